#!/usr/bin/env bash
# The whole ecspipe story against the local sandbox, as a newcomer would run it:
# start the emulator, init (in a scratch checkout of the app), validate, plan,
# up (twice), release --wait (twice), rollback --yes --wait, status, down; then the same image promoted through
# staging, an approval and production (config.environments.example.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${ECSPIPE_DEMO_PORT:-4566}"
LOG=.demo/sandbox.log
mkdir -p .demo

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
unset AWS_PROFILE
# The application's checkout, as a newcomer has one: origin on GitHub, a Dockerfile.
APP=.demo/app
CONFIG=$APP/ecspipe.yaml
rm -rf "$APP" && mkdir -p "$APP" && printf 'FROM nginx\n' >"$APP/Dockerfile"
INIT_FLAGS=()
if command -v git >/dev/null; then
  git -C "$APP" init -q -b main && git -C "$APP" remote add origin git@github.com:acme/demo-app.git
else
  INIT_FLAGS=(--repository acme/demo-app --branch main)  # what init would read from git
fi

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

"$BIN/ecspipe" sandbox --port "$PORT" --handshake-delay 2 >"$LOG" 2>&1 &
SANDBOX=$!
trap 'kill -TERM $SANDBOX 2>/dev/null; wait $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q "export AWS_ENDPOINT_URL" "$LOG" 2>/dev/null && break
  kill -0 $SANDBOX 2>/dev/null || { cat "$LOG"; echo "the sandbox did not start" >&2; exit 1; }
  sleep 0.2
done
grep -q "export AWS_ENDPOINT_URL" "$LOG" || { cat "$LOG"; echo "sandbox not ready" >&2; exit 1; }
echo "sandbox running on $AWS_ENDPOINT_URL, seeded with the guide's Part 1: ECS cluster"
echo "demo-cluster, service demo-web-service (container web), ECR repository demo-app."
echo "In the sandbox, a new connection's GitHub handshake completes by itself after 2 s."

step "cd $APP && ecspipe init --service demo-web-service --yes"
"$BIN/ecspipe" init --repo-dir "$APP" -o "$CONFIG" --service demo-web-service --yes \
  "${INIT_FLAGS[@]}"
step ecspipe validate -c $CONFIG
"$BIN/ecspipe" validate -c $CONFIG
step ecspipe plan -c $CONFIG
"$BIN/ecspipe" plan -c $CONFIG
step ecspipe up -c $CONFIG --wait-connection
"$BIN/ecspipe" up -c $CONFIG --wait-connection --timeout 60
step "ecspipe up -c $CONFIG   # again: nothing to change"
"$BIN/ecspipe" up -c $CONFIG
step ecspipe release -c $CONFIG --wait
"$BIN/ecspipe" release -c $CONFIG --wait --timeout 120
step "ecspipe release -c $CONFIG --wait   # a second release (the next push)"
"$BIN/ecspipe" release -c $CONFIG --wait --timeout 120
step "ecspipe rollback -c $CONFIG --yes --wait   # back to the first release's image"
"$BIN/ecspipe" rollback -c $CONFIG --yes --wait --timeout 120
step ecspipe status -c $CONFIG
"$BIN/ecspipe" status -c $CONFIG
step ecspipe down -c $CONFIG --yes
"$BIN/ecspipe" down -c $CONFIG --yes

# ---- act 2: staging, an approval, production ------------------------------------------
ENVS=config.environments.example.yaml
act() { printf '\n\033[1;36m== %s ==\033[0m\n' "$*"; }
say() { printf '\033[2m# %s\033[0m\n' "$*"; }
# Until `status` shows production's approval waiting (for execution $1, or any): the
# sandbox runs on wall time, so the pipeline takes a few seconds to get there.
wait_for_approval() {
  for _ in $(seq 1 120); do
    "$BIN/ecspipe" status -c $ENVS -o json 2>/dev/null | "$BIN/python" -c '
import json, sys
data = json.load(sys.stdin)
approval = [e for e in data["environments"] if e["name"] == "production"][0]["approval"]
sys.exit(0 if approval and sys.argv[1] in ("", approval["execution_id"]) else 1)' "${1:-}" && return 0
    sleep 1
  done
  echo "no approval waited" >&2; exit 1
}

act "Act 2: build once, deploy to staging, approve, promote the same image to production"
say "The sandbox also runs a staging service, in its own cluster, whose container is named"
say "differently (app, where production's is web). $ENVS lists both:"
step "sed -n '/^environments:/,/^  events:/p' $ENVS"
sed -n '/^environments:/,/^  events:/p' $ENVS
step ecspipe up -c $ENVS --wait-connection
"$BIN/ecspipe" up -c $ENVS --wait-connection --timeout 60
say "A stage per environment, an approval stage before production, and notifications: a"
say "KMS-encrypted SNS topic, an email subscription and a CodeStar Notifications rule."
say "CodePipeline started a first execution when it created the pipeline: it deploys"
say "staging and waits for approval before production. That one is not wanted here:"
wait_for_approval
step "ecspipe approve -c $ENVS --env production --reject --yes --comment 'the release below is newer'"
"$BIN/ecspipe" approve -c $ENVS --env production --reject --yes --comment 'the release below is newer'

step "ecspipe release -c $ENVS --wait &   # in the background (its lines start with │)"
RELEASE_LOG=.demo/release.log
: >"$RELEASE_LOG"
"$BIN/ecspipe" release -c $ENVS --wait --timeout 300 > >(tee "$RELEASE_LOG" | sed -u 's/^/  │ /') 2>&1 &
RELEASE=$!
for _ in $(seq 1 240); do  # until release --wait says it waits for the approval
  grep -q "waiting for approval to deploy to production" "$RELEASE_LOG" && break
  kill -0 $RELEASE 2>/dev/null || break
  sleep 0.5
done
sleep 0.5
say "release --wait stopped at the approval. In another terminal, a person answers it:"
step ecspipe approve -c $ENVS --env production --yes
"$BIN/ecspipe" approve -c $ENVS --env production --yes
step "wait   # release --wait follows production's deploy, then checks what each service runs"
wait $RELEASE
step ecspipe status -c $ENVS
"$BIN/ecspipe" status -c $ENVS
step ecspipe down -c $ENVS --yes
"$BIN/ecspipe" down -c $ENVS --yes
printf '\n\033[1mdemo finished: the sandbox stops now.\033[0m\n'
