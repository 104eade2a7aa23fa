from celery import shared_task

from explorer import indexer


@shared_task(name="explorer.index")
def index_task() -> dict[str, int]:
    return indexer.index_all()
