// typescript-eslint's recommended rules plus the project's habits (below).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// A catch tests the error's code or class and rethrows the rest, or reports it, so it must
// name the error: `catch {}` and `.catch(() => …)` cannot look at what they swallow (and a
// comment inside keeps `no-empty` quiet). A named error left unread is no-unused-vars'
// (caughtErrors: "all").
const NO_SWALLOWED_ERRORS = [
  "error",
  {
    selector: "CatchClause[param=null]",
    message: "Name the error, test its code or class and rethrow the rest, or report it.",
  },
  {
    selector: "CallExpression[callee.property.name='catch'] > :function[params.length=0].arguments",
    message: "A rejection handler names the error, tests it and rethrows the rest, or reports it.",
  },
  {
    selector:
      "CallExpression[callee.property.name='then'] > :function[params.length=0].arguments:nth-child(2)",
    message: "A rejection handler names the error, tests it and rethrows the rest, or reports it.",
  },
];

export default tseslint.config(
  { ignores: ["node_modules/", ".batchpy/", "dist/"] },
  // The few JavaScript files (the bin, the report page, test runners): this rule alone.
  { files: ["**/*.js", "**/*.mjs"], rules: { "no-restricted-syntax": NO_SWALLOWED_ERRORS } },
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    rules: {
      eqeqeq: ["error", "always"],
      curly: ["error", "all"],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-syntax": NO_SWALLOWED_ERRORS,
    },
  },
  // The rule is for product paths; tests may expect and ignore failures.
  { files: ["test/**"], rules: { "no-restricted-syntax": "off" } },
);
