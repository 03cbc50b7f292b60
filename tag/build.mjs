// Builds src/t.js into one minified file: `node build.mjs [outfile]`
// (default dist/t.js): esbuild minifies, then terser squeezes (~40 B gzipped
// more; the tag's budget is 2 KB gzipped). Deterministic: the same source gives the same bytes,
// which tag/tests/test_build.py checks against the committed dist file.
// Measure a change as the test does:
//   python3 -c "import gzip;print(len(gzip.compress(open('tag/dist/t.js','rb').read(),9)))"
// Gzip rewards repetition: fewer distinct names and strings often beat fewer
// characters, so measure each change rather than guess.
import { build } from "esbuild";
import { minify } from "terser";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const outfile = resolve(process.argv[2] || join(here, "dist", "t.js"));

await build({
  entryPoints: [join(here, "src", "t.js")],
  outfile,
  bundle: false,
  minify: true,
  target: ["es2021"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
});

const squeezed = await minify(readFileSync(outfile, "utf8"), {
  ecma: 2021,
  compress: { passes: 3, unsafe_arrows: true },
  mangle: true,
  format: { comments: false },
});
writeFileSync(outfile, squeezed.code);
