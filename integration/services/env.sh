#!/usr/bin/env bash
# Print `export VAR=value` lines for the services that are up, for the test runner:
#   eval "$(integration/services/env.sh)"
# Kafka: SPILLWAY_TEST_KAFKA_BROKERS, SPILLWAY_TEST_KAFKA_STORAGE, SPILLWAY_KAFKA_SH
# S3:    SPILLWAY_TEST_S3_ENDPOINT, SPILLWAY_TEST_S3_ACCESS_KEY_ID, SPILLWAY_TEST_S3_SECRET_ACCESS_KEY,
#        SPILLWAY_TEST_S3_REGION, SPILLWAY_TEST_S3_FORCE_PATH_STYLE
# HDFS:  SPILLWAY_TEST_HDFS_URL, SPILLWAY_HADOOP_HDFS, SPILLWAY_HADOOP_CONF_DIR
# Python (when the venv is installed): SPILLWAY_PYTHON
# Always: SPILLWAY_CACHE, SPILLWAY_RUN (so later calls of the scripts find the same services)
set -euo pipefail
SPILLWAY_COMPONENT="env"
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# So that $SPILLWAY_KAFKA_SH and the hdfs wrapper find the same cache and run dir later.
printf 'export SPILLWAY_CACHE=%q\n' "$SPILLWAY_CACHE"
printf 'export SPILLWAY_RUN=%q\n' "$SPILLWAY_RUN"
if [[ -x "$SPILLWAY_PY" ]]; then
  printf 'export SPILLWAY_PYTHON=%q\n' "$SPILLWAY_PY"
fi
for s in kafka s3 hdfs browser; do
  "$SPILLWAY_SERVICES_DIR/$s.sh" env
done
