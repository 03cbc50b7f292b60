// Builds src/t.js into one minified file: `node build.mjs [outfile]`
// (default dist/t.js). Deterministic: the same source gives the same bytes,
// which tag/tests/test_build.py checks against the committed dist file.
import { build } from "esbuild";
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
