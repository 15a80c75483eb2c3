'use strict';
// Edge coverage for JS under test, for libFuzzer (fuzz/engine/libfuzzer_addon.cc): a Babel
// plugin that puts a counter bump at the start of every function, both arms of every if and
// ?:, the right side of && || ??, every loop body, switch case and catch block. A bump is
// `C[id] < 255 && C[id]++` on globalThis.__fcnCov (the engine's counters, saturating at 255;
// libFuzzer buckets the counts). install() hooks require() for files under `root`.
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const babel = require('@babel/core');

let nextId = 0;
const CTR = '__fcnCov';

function plugin({ types: t }) {
  const made = new WeakSet();
  const bump = () => {
    const id = nextId++;
    const el = () => t.memberExpression(t.identifier(CTR), t.numericLiteral(id), true);
    const e = t.logicalExpression('&&', t.binaryExpression('<', el(), t.numericLiteral(255)), t.updateExpression('++', el()));
    made.add(e);
    return e;
  };
  const bumpStmt = () => t.expressionStatement(bump());
  const withBump = (expr) => t.sequenceExpression([bump(), expr]);
  // A statement position (if arm, loop body): a block that starts with a bump.
  const blockWithBump = (stmt) =>
    t.isBlockStatement(stmt) ? (stmt.body.unshift(bumpStmt()), stmt) : t.blockStatement([bumpStmt(), stmt]);

  return {
    visitor: {
      Program: {
        exit(p) {
          p.unshiftContainer('body', t.variableDeclaration('const', [
            t.variableDeclarator(t.identifier(CTR), t.memberExpression(t.identifier('globalThis'), t.identifier(CTR))),
          ]));
        },
      },
      Function(p) {
        const body = p.node.body;
        if (t.isBlockStatement(body)) body.body.unshift(bumpStmt());
        else p.node.body = withBump(body);
      },
      IfStatement(p) {
        p.node.consequent = blockWithBump(p.node.consequent);
        p.node.alternate = p.node.alternate ? blockWithBump(p.node.alternate) : t.blockStatement([bumpStmt()]);
      },
      ConditionalExpression(p) {
        p.node.consequent = withBump(p.node.consequent);
        p.node.alternate = withBump(p.node.alternate);
      },
      LogicalExpression(p) {
        if (made.has(p.node)) return p.skip();
        p.node.right = withBump(p.node.right);
      },
      Loop(p) {
        p.node.body = blockWithBump(p.node.body);
      },
      SwitchCase(p) {
        p.node.consequent.unshift(bumpStmt());
      },
      CatchClause(p) {
        p.node.body.body.unshift(bumpStmt());
      },
    },
  };
}

function instrument(code, filename) {
  return babel.transformSync(code, {
    filename, plugins: [plugin], babelrc: false, configFile: false, sourceMaps: false, compact: false,
    parserOpts: { sourceType: 'unambiguous' },
  }).code;
}

/** Instruments every .js file under `root` that require() loads from now on. */
function install(root) {
  if (!globalThis[CTR]) globalThis[CTR] = new Uint8Array(1 << 20);
  const dir = path.resolve(root) + path.sep;
  const original = Module._extensions['.js'];
  Module._extensions['.js'] = function (module, filename) {
    if (!filename.startsWith(dir)) return original(module, filename);
    module._compile(instrument(fs.readFileSync(filename, 'utf8'), filename), filename);
  };
}

module.exports = { install, instrument, counterCount: () => nextId };
