"""Rule train_controlnet: the ControlNet on edge + mask-boundary images, base UNet frozen (the
training set's own, or the pool's), started from the pool's ControlNet if configured; the
checkpoint holds base, ControlNet (and autoencoder), a self-contained generator."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.io import file_hash, load_arrays, load_checkpoint, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.provenance import TRAINING_SUBJECTS, provenance_sidecars
from radsynth.synthesis.autoencoder_trainer import load_autoencoder
from radsynth.synthesis.controlnet_trainer import train_controlnet
from radsynth.synthesis.curve import Snapshots, generator_slices
from radsynth.synthesis.prompts import subject_tokens
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings, params = snakemake.params.settings, snakemake.params
options, device = settings["controlnet"], job_device(params.device)

# the labelled slices (synthesis.train_slices), less the masks kept for the curve
train = generator_slices(
    load_arrays(snakemake.input.train), params.curve, params.seed, snakemake.input.train, labelled=params.slices == "labelled"
)
base_state, base_sidecar = load_checkpoint(snakemake.input.base)
codec = load_autoencoder(snakemake.input.autoencoder, device) if snakemake.input.autoencoder else None
data_hash = file_hash(snakemake.input.train)
resume = job_resume(snakemake)
result = train_controlnet(
    select_channels(train, params.channels),
    train["label"],
    base_state,
    base_sidecar["architecture"],
    tokens=subject_tokens(params.prompt, train["subject"], params.names),
    codec=codec,
    edge_sigma=options["edge_sigma"],
    mask_fill=options["mask_fill"],
    embedding_channels=options["embedding_channels"],
    iterations=options["iterations"],
    batch_size=options["batch_size"],
    lr=options["lr"],
    lr_schedule=settings["lr_schedule"],
    text_dropout=settings["text_dropout"],
    flip=options["flip"],
    rotate=options["rotate"],
    scale=options["scale"],
    init=load_checkpoint(snakemake.input.init)[0] if snakemake.input.init else None,
    seed=params.seed,
    device=device,
    resume=resume,
    snapshot=Snapshots(snakemake.output.snapshots, params.curve["every"], options["iterations"]),
)
state = {"unet": base_state["unet"], **result.state}
if "prompt_encoder" in base_state:
    state["prompt_encoder"] = base_state["prompt_encoder"]
architecture = {"base": base_sidecar["architecture"], "controlnet": result.architecture}
if codec is not None:
    auto_state, auto_sidecar = load_checkpoint(snakemake.input.autoencoder)
    state["autoencoder"], architecture["autoencoder"] = auto_state["autoencoder"], auto_sidecar["architecture"]
sidecar = {
    "generator": "controlnet",
    "architecture": architecture,
    "channels": params.channels,
    "prompt": params.prompt,
    "settings": settings,
    "base_checkpoint": snakemake.input.base,
    "init_checkpoint": snakemake.input.init or None,
    "data_hash": data_hash,
    # its own slices and those of the base it holds
    TRAINING_SUBJECTS: sorted({*map(str, train["subject"]), *base_sidecar.get(TRAINING_SUBJECTS, [])}),
    "images_per_second": result.images_per_second,
}
with provenance_sidecars(snakemake.output, snakemake.config, snakemake.input):
    save_checkpoint(snakemake.output.model, state, sidecar)
    write_csv(snakemake.output.history, result.history, sep="\t")
    log.info("controlnet: %.1f images/s", result.images_per_second)
