import * as fs from 'fs';
import * as path from 'path';

test('the whole project type-checks (strict), as built by the jest global setup', () => {
  const r = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../dist/tsc-result.json'), 'utf8'));
  expect(r.output).toBe('');
  expect(r.status).toBe(0);
});
