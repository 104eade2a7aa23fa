// What a voter's device spends on one ballot: static/elections/voting.js in Node.
//
//     node bench/voting_js.mjs [--repeat 30] [--options 5] [--max 1]
//
// Encrypts a 1-question ballot (5 options, choose 1 by default: five 0/1 range proofs and
// a [min, max] sum proof) `repeat` times after two warm-up ballots, and prints the first
// ballot's time (it builds the joint key's table) and the median and spread of the others, then the verification of one ballot (what the page does before showing
// the tracker, and what any observer can do). One thread; a browser on the same machine is
// in the same range (same BigInt engine in Chromium). Wall-clock figures depend on the
// machine and its load: tests never assert them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { webcrypto } from "node:crypto";
import { performance } from "node:perf_hooks";

if (!globalThis.crypto) globalThis.crypto = webcrypto;
// static/ has no package.json saying "type": "module", and Node before 20.19 does not
// detect ES modules itself: import a copy from a folder that says it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "voting-js-"));
const here = path.dirname(fileURLToPath(import.meta.url));
for (const f of ["elections/voting.js", "vendor/noble/secp256k1.js"]) {
  fs.mkdirSync(path.dirname(path.join(tmp, f)), { recursive: true });
  fs.copyFileSync(path.join(here, "..", "static", f), path.join(tmp, f));
}
fs.writeFileSync(path.join(tmp, "package.json"), '{"type": "module"}\n');
const v = await import(pathToFileURL(path.join(tmp, "elections", "voting.js")).href);
fs.rmSync(tmp, { recursive: true });

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const repeat = arg("repeat", 30), options = arg("options", 5), max = arg("max", 1);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Wall time of fn in ms; its CPU time (user + system, this process) goes to `cpu`, which
// a busy machine inflates less than the wall time (other processes wait their turn).
function time(fn, cpu) {
  const c0 = process.cpuUsage(), t0 = performance.now();
  fn();
  const t = performance.now() - t0, c = process.cpuUsage(c0);
  if (cpu) cpu.push((c.user + c.system) / 1000);
  return t;
}

const election = {
  id: "bench", title: "Bench", opens_at: 0, closes_at: 1, trustees: ["org1", "org2", "org3"],
  questions: [{ id: "q", title: "Q", min_choices: 1, max_choices: max,
                options: Array.from({ length: options }, (_, j) => ({ id: `o${j}`, title: `O${j}` })) }],
};
const eh = v.electionHash("ab".repeat(32), election);
const keys = ["org1", "org2", "org3"].map((t) => v.trusteeKeygen(eh, t));
const h = v.jointKey(keys.map((k) => k.public));
const questions = [{ options, min_choices: 1, max_choices: max }];
const voter = "cd".repeat(32);
const choices = [Array.from({ length: options }, (_, j) => (j === 1 ? 1 : 0))];

let sealed;
// The first ballot also builds the joint key's table and warms the JIT up.
const first = time(() => { sealed = v.encryptBallot(eh, voter, h, questions, choices); });
sealed = v.encryptBallot(eh, voter, h, questions, choices);
const enc = [], ver = [], encCpu = [], verCpu = [];
for (let i = 0; i < repeat; i++) {
  enc.push(time(() => { sealed = v.encryptBallot(eh, voter, h, questions, choices); }, encCpu));
  ver.push(time(() => {
    if (v.ballotProblem(eh, voter, h, questions, sealed.ballot) !== null) throw new Error("bad");
  }, verCpu));
}
const load = os.loadavg().map((x) => x.toFixed(2)).join(", ");
console.log(`machine: ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? "?"}; ` +
            `${os.type()} ${os.release()}; node ${process.version}; load ${load}`);
console.log(`ballot: 1 question, ${options} options, choose 1..${max}; 3 trustees; ` +
            `${JSON.stringify(sealed.ballot).length} bytes of JSON`);
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, ` +
                    `max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;
console.log(`first ballot:    ${first.toFixed(1)} ms (cold: JIT, the joint key's table)`);
console.log(`encrypt + prove: ${fmt(enc)}; CPU median ${median(encCpu).toFixed(1)} ms`);
console.log(`verify:          ${fmt(ver)}; CPU median ${median(verCpu).toFixed(1)} ms`);
