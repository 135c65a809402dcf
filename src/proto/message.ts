/**
 * A bound protobuf message as a plain object, in the form protobufjs'
 * `Type.toObject(msg, { enums: String, longs: Number, bytes: Array? no })` gives with `keepCase: true`:
 * snake_case field names as in caffe.proto, repeated fields as arrays, enums as their names
 * (e.g. `pool: 'MAX'`), nested messages as objects. Unset fields are absent (defaults are not filled
 * in; use `withDefaults` from the schema module to read a parameter message with Caffe's defaults).
 */
export type Msg = { [field: string]: any };

/** caffe.LayerParameter (V2). V0/V1 nets are upgraded to this form in memory. */
export type LayerParam = Msg & {
  name?: string;
  type?: string;
  bottom?: string[];
  top?: string[];
  include?: Msg[];
  exclude?: Msg[];
  blobs?: Msg[];
  precision_param?: Msg;
  quantization_param?: Msg;
};

/** caffe.NetParameter after upgrade: always `layer`, never `layers`, `input`/`input_dim` turned into an Input layer. */
export type NetParam = Msg & {
  name?: string;
  layer: LayerParam[];
};
