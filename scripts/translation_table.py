"""Rule translation_table: MAE, PSNR, SSIM (and EPE) per method and misalignment level."""

from radsynth.logs import log_to
from radsynth.report.tables import read_metrics, translation_table, write_table

log = log_to(snakemake.log[0])
summary, table = translation_table(read_metrics(snakemake.input))
write_table(summary, table, dict(snakemake.output.items()), snakemake.params.caption)
log.info("translation table written")
