// The package ships no types; its output is decoded with a Schema where it is used.
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown
}
