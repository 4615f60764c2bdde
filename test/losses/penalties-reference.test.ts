/**
 * The network cases of test/reference/penalties.json and adv.json (made by
 * test/reference/generate_gan.py with PyTorch, `autograd.grad(create_graph=True)`): gradient
 * penalty, R1, the path-length regulariser over several steps, and AdvLoss over call sequences,
 * on small discriminators and generators whose weights the JSON gives, on each reference backend.
 * Each case compares the loss and its gradient w.r.t. every network weight (and the images) with
 * PyTorch float64.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeOnEachBackend } from '../helpers/backend.ts';
import { WorstError } from '../helpers/gan-reference.ts';
import {
  type AdvCase,
  checkAdvCase,
  checkPathCase,
  checkPenaltyCase,
  type NetFile,
  type PathCase,
  type PenaltyCase,
} from '../helpers/penalty-cases.ts';
import { readReference } from '../helpers/reference.ts';

let worst = new WorstError();

const penalties = readReference<NetFile<PenaltyCase | PathCase>>('penalties.json');
const adv = readReference<NetFile<AdvCase>>('adv.json');

describeOnEachBackend(
  `PyTorch reference cases of the penalties`,
  (backend) => {
    const gpCases = penalties.cases.filter((c): c is PenaltyCase => 'net' in c);
    for (const type of [
      'gradient_penalty_loss',
      'GradientPenaltyLoss',
      'r1_gradient_penalty_loss',
    ]) {
      const cases = gpCases.filter((c) => c.type === type);
      test(`${type}: ${cases.length} cases (value and gradients w.r.t. every D weight and image)`, () => {
        for (const c of cases) tf.tidy(() => checkPenaltyCase(c, penalties, worst));
      });
    }

    const pathCases = penalties.cases.filter((c): c is PathCase => 'steps' in c);
    test(`path regulariser: ${pathCases.length} cases over several steps (EMA state)`, () => {
      for (const c of pathCases) checkPathCase(c, penalties, worst);
    });

    test(`AdvLoss: ${adv.cases.length} call sequences (pools, gradients w.r.t. D and images)`, () => {
      for (const c of adv.cases) checkAdvCase(c, adv, worst);
    });

    test('worst error against PyTorch is within tolerance', () => {
      worst.assertWithinTolerance(backend);
    });
  },
  () => {
    worst = new WorstError();
  },
);
