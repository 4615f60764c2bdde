import { readFileSync } from 'node:fs';
import { listLosses } from '../src/cli/list.ts';
import '../src/index.ts'; // registers every built-in loss

const root = new URL('../', import.meta.url);

/** An example file as the guide shows it: imports of the source tree read `genloss`. */
export function exampleAsShown(file: string): string {
  return readFileSync(new URL(file, root), 'utf8')
    .replaceAll("'../../src/index.ts'", "'genloss'")
    .replaceAll("'../../src/node.ts'", "'genloss/node'")
    .trimEnd();
}

const FENCE = { ts: 'ts', yaml: 'yaml', yml: 'yaml', json: 'json' } as Record<string, string>;

/** The guide with its example blocks and loss tables regenerated. */
export function renderGuide(text: string): string {
  const withExamples = text.replace(
    /<!-- example: (\S+) -->\n```\w*\n[\s\S]*?```/g,
    (_, file: string) => {
      const lang = FENCE[file.split('.').pop() ?? ''] ?? '';
      return `<!-- example: ${file} -->\n\`\`\`${lang}\n${exampleAsShown(file)}\n\`\`\``;
    },
  );
  return withExamples.replace(
    /<!-- losses:start -->[\s\S]*?<!-- losses:end -->/,
    `<!-- losses:start -->\n${listLosses('markdown')}\n<!-- losses:end -->`,
  );
}
