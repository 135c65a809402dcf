/**
 * The lossless syntax tree of a protobuf-text file (Caffe prototxt).
 * Every node records offsets into `PrototxtDoc.text`, so untouched parts of a file are
 * re-emitted by slicing the original text (byte for byte), and the printer edits a file by
 * splicing text at node offsets.
 */
export interface Span {
  /** offset of the first character (inclusive) */
  start: number;
  /** offset after the last character (exclusive) */
  end: number;
  /** 1-based line and column of `start` */
  line: number;
  col: number;
}

export interface ScalarNode {
  kind: 'string' | 'number' | 'ident';
  /** the source text, e.g. `"conv1"`, `1e-5`, `MAX`, `'a' "b"` (adjacent strings) */
  raw: string;
  /** decoded value: string (escapes and concatenation applied), number (hex/inf/nan decoded), or the identifier text */
  value: string | number;
  span: Span;
}

export interface MessageNode {
  /** for a nested message: from `{` (or `<`) to the matching `}` (or `>`) inclusive; for the root: the whole file */
  span: Span;
  fields: FieldNode[];
  /**
   * (added) The trivia around the fields, kept so the tree alone re-prints the file: `gaps[i]` is the
   * text before `fields[i]` (whitespace, comments, separators, and for a nested message the opening
   * brace in gaps[0]); the last entry is the text after the last field (with the closing brace).
   * Always `fields.length + 1` entries when built by the parser.
   */
  gaps?: string[];
}

export interface FieldNode {
  name: string;
  nameSpan: Span;
  /** from the first character of the name to the end of the value (closing brace or last scalar), not including a trailing separator or comment */
  span: Span;
  /** `name: [a, b]` list syntax gives several scalars (or messages) in one field node */
  value: ScalarNode | MessageNode | Array<ScalarNode | MessageNode>;
  /**
   * (added) Trivia inside the field: `gaps[0]` is the text between the name and the (first) value
   * (e.g. `: `, ` `, `: [`); for list syntax `gaps[i]` follows the i-th element (`, `, `]`).
   */
  gaps?: string[];
}

export interface PrototxtDoc {
  file: string;
  text: string;
  root: MessageNode;
}
