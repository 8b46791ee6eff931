# Broken double: a shell script whose validator is not installed. The shell reports
# "not found" and the script exits 2, the exit code every invalid archive expects,
# so only the reason shows the crash. A missing model it reports properly.
model=$1
if [ ! -e "$model" ]; then
    echo "ERROR: $model: model archive not found (ERROR_CODE: FILE_NOT_FOUND)" >&2
    exit 1
fi
dummy-training-missing-validator --strict "$model" || exit 2
