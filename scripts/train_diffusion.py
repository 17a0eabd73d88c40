"""Rule train_diffusion: DDPM on training slices, conditioned on edge + mask-boundary maps."""

from radsynth.io import file_hash, load_arrays, save_checkpoint, write_csv
from radsynth.logs import log_to
from radsynth.pack import select_channels
from radsynth.train.common import pick_device, set_threads
from radsynth.train.diffusion import train_diffusion

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
settings = snakemake.params.settings

train = load_arrays(snakemake.input.train)
images = select_channels(train, snakemake.params.channels)
result = train_diffusion(
    images,
    train["label"],
    unet=settings["unet"],
    train_timesteps=settings["train_timesteps"],
    prediction_type=settings["prediction_type"],
    lr_schedule=settings["lr_schedule"],
    mask_fill=settings["mask_fill"],
    iterations=settings["iterations"],
    batch_size=settings["batch_size"],
    lr=settings["lr"],
    condition_dropout=settings["condition_dropout"],
    edge_sigma=settings["edge_sigma"],
    seed=snakemake.params.seed,
    device=pick_device(snakemake.params.device),
)
sidecar = {
    "architecture": result.architecture,
    "channels": snakemake.params.channels,
    "settings": settings,
    "data_hash": file_hash(snakemake.input.train),
    "images_per_second": result.images_per_second,
}
save_checkpoint(snakemake.output.model, result.state, sidecar)
write_csv(snakemake.output.history, result.history, sep="\t")
log.info("diffusion: %.1f images/s", result.images_per_second)
