import * as fs from 'fs';
import * as path from 'path';

import { CORPUS } from './cli';

export { CORPUS };

/** every *.prototxt under the corpus, recursively, sorted */
export function corpusPrototxts(): string[] {
  const walk = (d: string): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.prototxt') ? [path.join(d, e.name)] : []));
  return walk(CORPUS).sort();
}
