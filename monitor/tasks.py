from celery import shared_task

from monitor import sampler


@shared_task(name="monitor.sample")
def sample_task() -> dict[str, int]:
    return sampler.sample_all()
