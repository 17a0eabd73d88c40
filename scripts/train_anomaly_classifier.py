"""Rule train_anomaly_classifier: the noisy-slice classifier that guides the DDIM (train split)."""

from radsynth.warm import hand_off

hand_off(snakemake)  # forked from the warm worker when the workflow runs one

from radsynth.anomaly.data import training_slices
from radsynth.anomaly.networks import classifier_config
from radsynth.anomaly.trainers import train_classifier
from radsynth.io import load_arrays
from radsynth.logs import log_to
from radsynth.synthesis.networks import scheduler_config
from radsynth.training.loop import job_device, set_threads
from radsynth.training.resume import job_resume
from radsynth.training.trained import save_trained

log = log_to(snakemake.log[0])
set_threads(snakemake.threads)
params, settings = snakemake.params, snakemake.params.classifier

images, labels, subjects = training_slices(load_arrays(snakemake.input.train), params.channels)
if labels.min() == labels.max():
    raise ValueError(f"{snakemake.input.train}: every training slice is {'healthy' if labels.max() == 0 else 'a lesion slice'}; "
                     "the classifier needs both (slice labels come from the training labels)")
trainer = {k: settings[k] for k in ("iterations", "batch_size", "lr")}
network = {k: v for k, v in settings.items() if k not in trainer}
architecture = classifier_config(len(params.channels), images.shape[-2:], **network)
schedule = scheduler_config(params.train_timesteps, "linear_beta")
result = train_classifier(
    images,
    labels,
    architecture=architecture,
    scheduler_config=schedule,
    **trainer,
    seed=params.seed,
    device=job_device(params.device),
    resume=job_resume(snakemake),
)
save_trained(snakemake, "anomaly_classifier", result, architecture, settings, subjects, scheduler=schedule)
log.info("anomaly classifier: last accuracy %.2f", result.history["accuracy"].iloc[-1])
