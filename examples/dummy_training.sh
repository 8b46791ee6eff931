#!/bin/sh
# dummy_training.sh: the dummy training step in POSIX sh with GNU tar, gzip and
# coreutils; a foreign implementation that the conformance suite judges (see
# CONFORMANCE.md, "A foreign implementation"). It reads archives the way GNU tar
# does, so archives that other readers read differently pass through it: it is an
# example of the contract, not a safe replacement for the Python step.
#
# usage: dummy_training.sh [--root DIR] [--model FILE] [--hyperparameters FILE]
#                          [--output-dir DIR] [--message-file FILE]
set -eu

root=/opt/ml/processing
model=
hyperparameters=
explicit=no
output_dir=
message_file=
work=
partial=
meta=

# One line to stderr and to the message file, ending with the reason code.
fail() {
    status=$1 code=$2
    shift 2
    line="$* (ERROR_CODE: $code)"
    printf 'ERROR: %s\n' "$line" >&2
    target=$message_file
    if [ -z "$target" ] && [ -d /opt/ml/output ]; then
        target=/opt/ml/output/message
    fi
    if [ -n "$target" ]; then
        printf '%s\n' "$line" >"$target" || true
    fi
    exit "$status"
}

cleanup() {
    if [ -n "$work" ]; then rm -rf -- "$work"; fi
    if [ -n "$meta" ]; then rm -rf -- "$meta"; fi
    if [ -n "$partial" ]; then rm -f -- "$partial"; fi
}
trap cleanup EXIT
trap 'exit 3' HUP INT TERM

while [ $# -gt 0 ]; do
    case $1 in
        --root | --model | --hyperparameters | --output-dir | --message-file)
            [ $# -ge 2 ] || fail 2 USAGE "$1 needs a value"
            case $1 in
                --root) root=$2 ;;
                --model) model=$2 ;;
                --hyperparameters) hyperparameters=$2 explicit=yes ;;
                --output-dir) output_dir=$2 ;;
                --message-file) message_file=$2 ;;
            esac
            shift 2
            ;;
        *) fail 2 USAGE "unknown argument: $1" ;;
    esac
done
: "${model:=$root/input/model/model.tar.gz}"
: "${hyperparameters:=$root/input/config/hyperparameters.json}"
: "${output_dir:=$root/output/model}"

# The model: there, a file, named .tar.gz or .tgz, not empty.
if [ -d "$model" ]; then
    fail 2 IS_DIRECTORY "Model path is a directory: $model"
fi
if [ ! -f "$model" ] || [ ! -r "$model" ]; then
    fail 1 FILE_NOT_FOUND "Model file not found: $model"
fi
lower=$(printf '%s' "$model" | tr '[:upper:]' '[:lower:]')
case $lower in
    *.tar.gz | *.tgz) ;;
    *) fail 2 INVALID_FORMAT "Expected a .tar.gz file, but got: $model" ;;
esac
if [ ! -s "$model" ]; then
    fail 2 EMPTY_FILE "Model file is empty: $model"
fi

# The hyperparameters: an explicit file must exist; the default one may not.
have_hyperparameters=no
if [ -e "$hyperparameters" ] || [ -L "$hyperparameters" ]; then
    if [ ! -f "$hyperparameters" ]; then
        [ -L "$hyperparameters" ] && [ ! -e "$hyperparameters" ] &&
            fail 1 FILE_NOT_FOUND "Hyperparameters file not found: $hyperparameters"
        fail 2 HYPERPARAMETERS_INVALID "Hyperparameters is not a regular file: $hyperparameters"
    fi
    # No JSON parser in POSIX sh: only the shape of an object is checked.
    first=$(tr -d ' \t\r\n' <"$hyperparameters" | cut -c1)
    last=$(tr -d ' \t\r\n' <"$hyperparameters" | tail -c 1)
    if [ "$first" != "{" ] || [ "$last" != "}" ]; then
        fail 2 HYPERPARAMETERS_INVALID "Hyperparameters are not a JSON object: $hyperparameters"
    fi
    have_hyperparameters=yes
elif [ "$explicit" = yes ]; then
    fail 1 FILE_NOT_FOUND "Hyperparameters file not found: $hyperparameters"
fi

# gzip: the magic, then the whole stream (CRC32, length, trailing bytes).
magic=$(od -An -tx1 -N2 "$model" | tr -d ' \n')
if [ "$magic" != 1f8b ]; then
    fail 2 INVALID_ARCHIVE "File is not a valid tar archive: $model (not gzip)"
fi
if ! why=$(gzip -t <"$model" 2>&1) || [ -n "$why" ]; then
    case $why in
        *"unexpected end of file"*) fail 2 TRUNCATED "Model archive is truncated: $model" ;;
        *) fail 2 GZIP_CORRUPT "Model archive has a corrupt gzip stream: $model ($why)" ;;
    esac
fi

# tar: list every member before anything is extracted, and refuse unsafe ones.
meta=$(mktemp -d)
listing=$meta/listing
status=0
why=$(LC_ALL=C tar --quoting-style=escape --numeric-owner -tvzf "$model" 2>&1 >"$listing") ||
    status=$?
# GNU tar rewrites unsafe names as it lists them ("Removing leading `../'"); the
# listing then hides what the archive says, so its warnings decide first.
case $why in
    *"Removing leading"*) fail 2 UNSAFE_MEMBER "Unsafe member name in $model: ${why#tar: }" ;;
    *"Archive contains"*) fail 2 REFUSED_DIALECT "Model archive uses fields GNU tar guesses at: $model" ;;
esac
if [ "$status" -ne 0 ]; then
    case $why in
        *"does not look like a tar archive"*)
            fail 2 INVALID_ARCHIVE "File is not a valid tar archive: $model"
            ;;
        *"Unexpected EOF"*) fail 2 TRUNCATED "Model archive is truncated: $model" ;;
        *) fail 2 TAR_CORRUPT "Model archive has a corrupt tar header: $model" ;;
    esac
fi
if [ -n "$why" ]; then
    fail 2 REFUSED_DIALECT "GNU tar warns about the model archive: $model"
fi
if [ ! -s "$listing" ]; then
    # No member: an empty tar begins with a zero block, anything else is no tar.
    if [ -n "$(gzip -dc <"$model" | head -c 512 | tr -d '\000')" ]; then
        fail 2 INVALID_ARCHIVE "File is not a valid tar archive: $model"
    fi
fi

# Each line: mode owner size date time name [-> target | link to target].
names=$meta/names
links=$meta/links
: >"$names"
: >"$links"
regular=no
while IFS= read -r line; do
    mode=${line%% *}
    rest=$(printf '%s\n' "$line" | sed 's/^[^ ]* [^ ]* *[^ ]* [^ ]* [^ ]* //')
    target=
    case $mode in
        -*)
            case $rest in
                */) fail 2 REFUSED_DIALECT "Regular file named like a directory in $model: $rest" ;;
            esac
            name=$rest regular=yes
            ;;
        h*) name=${rest%% link to *} target=${rest#* link to } regular=yes ;;
        d*)
            # A directory with data is a file that GNU tar lists as a directory but
            # extracts as one and then reads its data as further members.
            size=$(printf '%s\n' "$line" | awk '{print $3}')
            [ "$size" = 0 ] ||
                fail 2 REFUSED_DIALECT "Directory member with data in $model: $rest"
            name=${rest%/}
            ;;
        C*) fail 2 REFUSED_DIALECT "Contiguous file member (read differently) in $model: $rest" ;;
        l*) name=${rest%% -> *} target=${rest#* -> } ;;
        *) fail 2 UNSAFE_MEMBER "Unsafe member type $mode in $model: $rest" ;;
    esac
    case $mode in
        ???[sS]* | ??????[sS]*) fail 2 UNSAFE_MEMBER "Setuid or setgid member in $model: $name" ;;
    esac
    name=${name#./}
    case /$name/ in
        //* | */../*) fail 2 UNSAFE_MEMBER "Unsafe member name in $model: $name" ;;
    esac
    # The listing escapes non-ASCII bytes as \ooo (kept: UTF-8 names), and newlines,
    # tabs and backslashes, which no safe name needs. A name or target holding the
    # listing's own separators could not be split back apart.
    case $(printf '%s' "$name$target" | sed 's/\\[23][0-7][0-7]//g') in
        *\\* | *" -> "* | *" link to "*)
            fail 2 UNSAFE_MEMBER "Member name that cannot be listed plainly in $model: $name"
            ;;
    esac
    [ -z "$name" ] && [ "${mode%"${mode#?}"}" = d ] && continue
    if grep -qxF -- "$name" "$names"; then
        fail 2 UNSAFE_MEMBER "Duplicate member in $model: $name"
    fi
    # A member below an earlier symlink or file would be written through it.
    parent=$name
    while [ "$parent" != "${parent%/*}" ]; do
        parent=${parent%/*}
        if grep -qxF -- "$parent" "$links"; then
            fail 2 UNSAFE_MEMBER "Member below a symlink or file in $model: $name"
        fi
    done
    case $mode in
        l*)
            case $target in
                /*) fail 2 UNSAFE_MEMBER "Absolute symlink in $model: $name -> $target" ;;
            esac
            # Resolve the target's text against the link's directory; it must stay
            # inside. The walk is lexical (a link to a shallower place can make a
            # later link's target look deeper than it is), which is why no member may
            # sit below a symlink: nothing is ever written through one.
            depth=0
            dir=${name%/*}
            [ "$dir" = "$name" ] && dir=
            path=$dir/$target
            for part in $(printf '%s' "$path" | tr '/' ' '); do
                case $part in
                    .) ;;
                    ..) depth=$((depth - 1)) ;;
                    *) depth=$((depth + 1)) ;;
                esac
                if [ "$depth" -lt 0 ]; then
                    fail 2 UNSAFE_MEMBER "Symlink escapes the archive in $model: $name -> $target"
                fi
            done
            ;;
        h*)
            target=${target#./}
            if ! grep -qxF -- "$target" "$names"; then
                fail 2 UNSAFE_MEMBER "Hard link to a missing member in $model: $name"
            fi
            ;;
    esac
    printf '%s\n' "$name" >>"$names"
    case $mode in
        d*) ;;
        *) printf '%s\n' "$name" >>"$links" ;;
    esac
done <"$listing"
rm -rf -- "$meta"
meta=
if [ "$regular" = no ]; then
    fail 2 NO_REGULAR_FILE "Model archive holds no regular file: $model"
fi

if ! mkdir -p -- "$output_dir" 2>/dev/null || [ ! -w "$output_dir" ]; then
    fail 3 OUTPUT_NOT_WRITABLE "Cannot create the output directory: $output_dir"
fi
output=$output_dir/model.tar.gz
partial=$(mktemp "$output_dir/.model.tar.gz.XXXXXX") ||
    fail 3 OUTPUT_NOT_WRITABLE "Cannot write in the output directory: $output_dir"

if [ "$have_hyperparameters" = no ]; then
    cp -- "$model" "$partial" || fail 3 ENVIRONMENT_ERROR "Cannot copy the model to $output"
else
    # Extract only into a private directory beside the output, never elsewhere.
    work=$(mktemp -d "$output_dir/.work.XXXXXX") ||
        fail 3 OUTPUT_NOT_WRITABLE "Cannot create a work directory in $output_dir"
    tar -xzf "$model" -C "$work" --no-same-owner --no-same-permissions ||
        fail 2 TAR_CORRUPT "Cannot extract the model archive: $model"
    rm -rf -- "$work/hyperparameters.json"
    cp -- "$hyperparameters" "$work/hyperparameters.json" ||
        fail 3 ENVIRONMENT_ERROR "Cannot copy the hyperparameters into $work"
    # Member names without a ./ prefix: the top-level entries, each named plainly.
    (cd "$work" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' |
        LC_ALL=C sort -z | tar --null -T - -czf "$partial") ||
        fail 3 ENVIRONMENT_ERROR "Cannot write $output"
fi
mv -f -- "$partial" "$output" || fail 3 OUTPUT_NOT_WRITABLE "Cannot write $output"
partial=
printf 'INFO: wrote %s\n' "$output" >&2
