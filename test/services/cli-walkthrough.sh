#!/bin/bash
# Usage: SECAGG=masking|jl|off test/services/cli-walkthrough.sh   (about 2 minutes; not part of npm test)
# Every step a federation goes through, each member a separate process: PKI enrollment, dataset
# registration, plan approval by SHA-256, aggregator and three nodes, a researcher experiment,
# audit verification. Leaves its working directory in /tmp and prints it.
# Multi-process CLI walkthrough: PKI, datasets, aggregator, nodes, researcher.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
F="node $ROOT/bin/fedsec.js"
W=$(mktemp -d /tmp/fedsec-cli-XXXX)
cd $W
export FEDSEC_CA_PASSPHRASE=correct-horse-battery-staple
$F pki init --ca ca --federation fed1 >/dev/null 2>&1
enroll() { # role id dir
  $F pki request --federation fed1 --role $1 --id $2 --out $3 >/dev/null 2>&1
  $F pki sign $3/request.csr.pem --ca ca --role $1 --id $2 --out $3.cert.pem >/dev/null 2>&1
  $F pki install --dir $3 --cert $3.cert.pem --ca-cert ca/ca.crt.pem >/dev/null 2>&1
}
enroll aggregator aggregator agg-member
for n in a b c; do enroll node hospital-$n node-$n/member; done
enroll researcher alice alice-member
$F pki roster --ca ca --out roster.json >/dev/null 2>&1
# wdbc split in three by row ranges (header kept)
head -1 $ROOT/data/wdbc.csv > h.csv
tail -n +2 $ROOT/data/wdbc.csv | shuf --random-source=<(yes) > rows.csv
split -n l/3 -d rows.csv part-
i=0; for n in a b c; do cat h.csv part-0$i > node-$n.csv; i=$((i+1)); $F node dataset add node-$n.csv --tag breast-cancer --target diagnosis --positive M --dir node-$n >/dev/null 2>&1; done
cat > experiment.json <<J
{ "id": "wdbc-cli", "plan": { "builder": "logreg", "features": 30 }, "tags": ["breast-cancer"], "rounds": 8,
  "secagg": "${SECAGG:-masking}", "minNodes": 3, "dp": { "mode": "distributed", "noiseMultiplier": 4, "clipNorm": 1, "delta": 1e-5 },
  "trainingArgs": { "learningRate": 1, "epochs": 1, "batchSize": 64 }, "stageTimeoutMs": 20000 }
J
$F experiment plan experiment.json --out plan.bin --json 2>/dev/null | tail -1 > plan.json
H=$(node -e "console.log(JSON.parse(require('fs').readFileSync('plan.json','utf8')).hash)")
for n in a b c; do $F node plan add plan.bin --dir node-$n >/dev/null 2>&1; $F node plan approve $H --dir node-$n >/dev/null 2>&1; done
PORT=$((20000 + RANDOM % 20000))
$F secagg modulus --bits 2048 --out modulus.json >/dev/null 2>&1
$F aggregator run --jl-modulus modulus.json --member agg-member --crl ca/crl.pem --roster roster.json --state agg-state --listen 127.0.0.1:$PORT 2> agg.log & AGG=$!
sleep 4
for n in a b c; do $F node run --aggregator 127.0.0.1:$PORT --crl ca/crl.pem --dir node-$n 2> node-$n.log & eval "N$n=\$!"; done
sleep 6
$F experiment run experiment.json --aggregator 127.0.0.1:$PORT --member alice-member --crl ca/crl.pem --out out --json 2> exp.log | tail -1
$F experiment nodes --aggregator 127.0.0.1:$PORT --member alice-member --crl ca/crl.pem 2>&1 | tail -3
$F experiment status wdbc-cli --aggregator 127.0.0.1:$PORT --member alice-member --crl ca/crl.pem 2>&1 | tail -3
$F node audit verify --dir node-a --json 2>/dev/null | tail -1
ls out
kill $Na $Nb $Nc $AGG 2>/dev/null || true
wait 2>/dev/null || true
cat exp.log | tail -14
echo "workdir $W"
