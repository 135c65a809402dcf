/** The executable net (built by graph/build.ts); the types are declared with LayerDef in layers/types.ts. */
export type { LayerNode, NetInput, Net } from '../layers/types';
