/** A dense float32 blob in Caffe's layout (NCHW for 4-D), C order. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function zeros(shape: readonly number[]): Tensor {
  return { shape: [...shape], data: new Float32Array(numel(shape)) };
}

export function fromArray(shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = Float32Array.from(values as ArrayLike<number>);
  if (data.length !== numel(shape)) throw new Error(`fromArray: ${data.length} values for shape [${shape}]`);
  return { shape: [...shape], data };
}

export function shapeStr(shape: readonly number[] | undefined): string {
  return shape ? `(${shape.join(',')})` : '(?)';
}
