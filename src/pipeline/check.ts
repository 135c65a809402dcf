/** Check: a plan against CHaiDNN's invariants (quant/invariants) before it is written. */
import { ChaiqError } from '../errors';
import type { Net } from '../graph/types';
import { checkInvariants } from '../quant/invariants';
import type { InvariantViolation } from '../quant/invariants';
import type { PrecisionPlan } from '../quant/plan';

/**
 * The plan's invariant errors; `acceptFlMismatch`: a mismatched uniform fl was asked for (and warned about), so only
 * the other invariants count.
 */
export function planViolations(net: Net, plan: PrecisionPlan, o: { acceptFlMismatch?: boolean } = {}): InvariantViolation[] {
  return checkInvariants(net, plan).filter((v) => v.severity === 'error' && !(o.acceptFlMismatch && v.kind === 'fl'));
}

/** A plan chaiq made must hold every invariant: a violation is chaiq's bug (exit 70), never the input's. */
export function assertPlanValid(net: Net, plan: PrecisionPlan, file: string, o: { acceptFlMismatch?: boolean } = {}): void {
  const bad = planViolations(net, plan, o);
  if (bad.length) throw new ChaiqError(`internal: the plan breaks a CHaiDNN invariant: ${bad[0].message}`, { file }, 70);
}
