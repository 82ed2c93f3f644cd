#!/bin/sh
# Test double of the example script: records each run in $0.runs, then sleeps if asked.
echo "run $*" >> "$(dirname "$0")/runs.log"
if [ -f "$(dirname "$0")/slow" ]; then sleep 30; fi
echo "scaling $1 from $2 to $3 instances"
