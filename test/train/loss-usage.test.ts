import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../src/register.ts';
import { listLosses } from '../../src/cli/list.ts';
import { LOSSES } from '../../src/core/registry.ts';
import { lossUsage } from '../../src/train/loss-usage.ts';

test('every built-in loss is usable from some model kind of genloss train', () => {
  const unused = LOSSES.list().filter((name) => lossUsage(name).length === 0);
  assert.deepEqual(unused, []);
});

test('lossUsage names the model type and key: pixel, feature, GAN, TV, composition and component roles', () => {
  assert.ok(lossUsage('SSIMLoss').includes('SRGAN.pixel_loss'));
  assert.ok(
    !lossUsage('SSIMLoss').includes('OneStageInpaintor.loss_l1_hole'),
    'no weight argument',
  );
  assert.ok(lossUsage('CauchyLoss').includes('OneStageInpaintor.loss_l1_hole'));
  assert.ok(lossUsage('LPIPS').includes('SRGAN.perceptual_loss'));
  assert.ok(lossUsage('MultiScaleGANLoss').includes('SRGAN.gan_loss'));
  assert.ok(!lossUsage('MultiScaleGANLoss').includes('BaseEditModel.gan_loss'));
  assert.ok(lossUsage('GANFeatLoss').includes('SRGAN.feature_matching_loss'));
  assert.ok(lossUsage('WeightedTVLoss').includes('BaseEditModel.tv_loss'));
  assert.ok(lossUsage('L1CompositionLoss').includes('DIM.loss_comp'));
  assert.ok(
    lossUsage('R2GradientPenaltyComps').includes('GANWithCustomizedLoss.disc_auxiliary_loss'),
  );
  assert.ok(lossUsage('RelativisticGANLoss').includes('GANWithCustomizedLoss.gan_loss'));
  assert.deepEqual(lossUsage('TransferalPerceptualLoss'), ['TTSR.transferal_perceptual_loss']);
  assert.ok(lossUsage('L1Loss').includes('TTSR.pixel_loss'));
  assert.ok(
    lossUsage('CLIPLoss').includes('GANWithCustomizedLoss.gen_auxiliary_loss (as CLIPLossComps)'),
  );
});

test('genloss list shows where each loss is used, in text, JSON and the Markdown tables', () => {
  assert.match(
    listLosses('text'),
    /FocalFrequencyLoss\n(?:.*\n)*?\s+used in: BaseEditModel\.pixel_loss/,
  );
  const json = JSON.parse(listLosses('json')) as { name: string; used_in: string[] }[];
  assert.deepEqual(json.find((e) => e.name === 'DISTS')?.used_in, lossUsage('DISTS'));
  assert.match(
    listLosses('markdown'),
    /\| `CLIPLoss` \|.*\| GANWithCustomizedLoss\.disc_auxiliary_loss \(as CLIPLossComps\)/,
  );
});
