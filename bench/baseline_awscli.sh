#!/usr/bin/env bash
# The benchmark's baseline: what `ecspipe up` creates, done by a plain bash script
# of AWS CLI calls, as a careful engineer would write it by hand. One AWS CLI
# process per request, resources in dependency order, each one described first
# and created only when missing: a second run creates nothing. It never updates
# an existing resource (ecspipe does; this script does not try to).
#
#   bench/baseline_awscli.sh DOCS_DIR
#
# DOCS_DIR is written beforehand (outside the timed part) by
#   python bench/baseline_docs.py CONFIG DOCS_DIR [--endpoint-url URL]
# which takes the policies, project, pipeline and tags from ecspipe's own code.
# The bench then runs `time bench/baseline_awscli.sh DOCS_DIR` twice.
#
# Environment: AWS (the CLI binary, default `aws`), plus the AWS CLI's own
# (credentials, AWS_ENDPOINT_URL for the sandbox). Prints one line per created
# resource to stderr. Exits non-zero on any unexpected error; a "not found" from
# a describe call is expected and means "create it".
set -euo pipefail

if [[ $# -ne 1 || ! -f $1/names.env ]]; then
  echo "usage: $0 DOCS_DIR   (written by bench/baseline_docs.py)" >&2
  exit 2
fi
DOCS=$(cd "$1" && pwd)
AWS_BIN=${AWS:-aws}
# shellcheck source=/dev/null
source "$DOCS/names.env"

export AWS_PAGER=""   # CLI v2 would otherwise page output on a terminal

aws() {
  command "$AWS_BIN" --region "$REGION" "$@"
}

created() {
  echo "created $*" >&2
}

# exists CODE ARGS...: runs `aws ARGS...` (a describe call). Returns 0 if it
# succeeds, 1 if it fails with error CODE (AWS's "not found" for that call), and
# stops the script on any other failure.
exists() {
  local missing=$1 err
  shift
  if err=$(aws "$@" 2>&1 >/dev/null); then
    return 0
  fi
  if [[ $err == *"($missing)"* ]]; then
    return 1
  fi
  printf '%s\n' "$err" >&2
  exit 1
}

# IAM is eventually consistent: for a few seconds after create-role, CodeBuild
# and CodePipeline may refuse a new role they cannot assume yet. Retry only that.
create_with_new_role() {
  local attempt err
  for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
    if err=$(aws "$@" 2>&1 >/dev/null); then
      return 0
    fi
    if [[ $err != *"not authorized to perform"*"AssumeRole"* ]]; then
      break
    fi
    sleep 5
  done
  printf '%s\n' "$err" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- who and where -------------------------------------------------------------
account=$(aws sts get-caller-identity --query Account --output text)
if [[ $account != "$ACCOUNT_ID" ]]; then
  echo "error: the credentials are for account $account, the documents for $ACCOUNT_ID" >&2
  exit 1
fi

status=$(aws ecs describe-services --cluster "$ECS_CLUSTER" --services "$ECS_SERVICE" \
  --query 'services[0].status' --output text)
if [[ $status != ACTIVE ]]; then
  echo "error: ECS service $ECS_SERVICE in cluster $ECS_CLUSTER is not ACTIVE ($status)" >&2
  exit 1
fi

# ---- source connection ---------------------------------------------------------
# (one page of up to 100 connections: enough for any account this is run against)
connection_arn=$(aws codestar-connections list-connections --max-results 100 \
  --query "Connections[?ConnectionName=='$CONNECTION_NAME'].ConnectionArn | [0]" --output text)
if [[ $connection_arn == None ]]; then
  connection_arn=$(aws codestar-connections create-connection \
    --provider-type "$CONNECTION_PROVIDER" --connection-name "$CONNECTION_NAME" \
    --tags "file://$DOCS/tags.json" --query ConnectionArn --output text)
  created "connection $CONNECTION_NAME ($connection_arn, PENDING until the handshake)"
fi

# The documents that name the connection.
sed "s|$CONNECTION_PLACEHOLDER|$connection_arn|g" "$DOCS/codepipeline-role-policy.json" \
  >"$work/codepipeline-role-policy.json"
sed "s|$CONNECTION_PLACEHOLDER|$connection_arn|g" "$DOCS/pipeline.json" >"$work/pipeline.json"

# ---- ECR repository ------------------------------------------------------------
if ! exists RepositoryNotFoundException ecr describe-repositories \
  --repository-names "$ECR_REPOSITORY"; then
  aws ecr create-repository --repository-name "$ECR_REPOSITORY" \
    --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true \
    --encryption-configuration encryptionType=AES256 \
    --tags "file://$DOCS/tags.json" >/dev/null
  aws ecr put-lifecycle-policy --repository-name "$ECR_REPOSITORY" \
    --lifecycle-policy-text "file://$DOCS/ecr-lifecycle-policy.json" >/dev/null
  created "ECR repository $ECR_REPOSITORY"
fi

# ---- artifact bucket -----------------------------------------------------------
owner=(--expected-bucket-owner "$ACCOUNT_ID")
if ! exists 404 s3api head-bucket --bucket "$BUCKET" "${owner[@]}"; then
  if [[ $REGION == us-east-1 ]]; then
    aws s3api create-bucket --bucket "$BUCKET" >/dev/null
  else
    aws s3api create-bucket --bucket "$BUCKET" \
      --create-bucket-configuration "LocationConstraint=$REGION" >/dev/null
  fi
  aws s3api put-public-access-block --bucket "$BUCKET" "${owner[@]}" \
    --public-access-block-configuration "file://$DOCS/bucket-public-access-block.json"
  aws s3api put-bucket-ownership-controls --bucket "$BUCKET" "${owner[@]}" \
    --ownership-controls "file://$DOCS/bucket-ownership-controls.json"
  aws s3api put-bucket-encryption --bucket "$BUCKET" "${owner[@]}" \
    --server-side-encryption-configuration "file://$DOCS/bucket-encryption.json"
  aws s3api put-bucket-versioning --bucket "$BUCKET" "${owner[@]}" \
    --versioning-configuration Status=Enabled
  aws s3api put-bucket-lifecycle-configuration --bucket "$BUCKET" "${owner[@]}" \
    --lifecycle-configuration "file://$DOCS/bucket-lifecycle.json"
  aws s3api put-bucket-policy --bucket "$BUCKET" "${owner[@]}" \
    --policy "file://$DOCS/bucket-policy.json"
  aws s3api put-bucket-tagging --bucket "$BUCKET" "${owner[@]}" \
    --tagging "file://$DOCS/bucket-tagging.json"
  created "artifact bucket $BUCKET"
fi

# ---- build log group -----------------------------------------------------------
found=$(aws logs describe-log-groups --log-group-name-prefix "$LOG_GROUP" \
  --query "logGroups[?logGroupName=='$LOG_GROUP'].logGroupName | [0]" --output text)
if [[ $found == None ]]; then
  aws logs create-log-group --log-group-name "$LOG_GROUP" \
    --tags "file://$DOCS/log-group-tags.json"
  aws logs put-retention-policy --log-group-name "$LOG_GROUP" \
    --retention-in-days "$LOG_RETENTION_DAYS"
  created "log group $LOG_GROUP"
fi

# ---- IAM roles -----------------------------------------------------------------
if ! exists NoSuchEntity iam get-role --role-name "$CODEBUILD_ROLE"; then
  aws iam create-role --role-name "$CODEBUILD_ROLE" --path "$ROLE_PATH" \
    --assume-role-policy-document "file://$DOCS/codebuild-trust-policy.json" \
    --description "$CODEBUILD_ROLE_DESCRIPTION" --tags "file://$DOCS/tags.json" >/dev/null
  aws iam put-role-policy --role-name "$CODEBUILD_ROLE" --policy-name "$CODEBUILD_POLICY" \
    --policy-document "file://$DOCS/codebuild-role-policy.json"
  created "IAM role $ROLE_PATH$CODEBUILD_ROLE"
fi

if ! exists NoSuchEntity iam get-role --role-name "$PIPELINE_ROLE"; then
  aws iam create-role --role-name "$PIPELINE_ROLE" --path "$ROLE_PATH" \
    --assume-role-policy-document "file://$DOCS/codepipeline-trust-policy.json" \
    --description "$PIPELINE_ROLE_DESCRIPTION" --tags "file://$DOCS/tags.json" >/dev/null
  aws iam put-role-policy --role-name "$PIPELINE_ROLE" --policy-name "$PIPELINE_POLICY" \
    --policy-document "file://$work/codepipeline-role-policy.json"
  created "IAM role $ROLE_PATH$PIPELINE_ROLE"
fi

# ---- CodeBuild project ---------------------------------------------------------
count=$(aws codebuild batch-get-projects --names "$PROJECT_NAME" \
  --query 'length(projects)' --output text)
if [[ $count == 0 ]]; then
  create_with_new_role codebuild create-project \
    --cli-input-json "file://$DOCS/codebuild-project.json"
  created "CodeBuild project $PROJECT_NAME"
fi

# ---- pipeline ------------------------------------------------------------------
if ! exists PipelineNotFoundException codepipeline get-pipeline --name "$PIPELINE_NAME"; then
  create_with_new_role codepipeline create-pipeline \
    --cli-input-json "file://$work/pipeline.json"
  created "pipeline $PIPELINE_NAME"
fi
