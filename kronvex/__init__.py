import os

# One BLAS thread per process: recall's matrix-vector products are too small to gain from
# more, and idle BLAS threads spin on the cores that the embedding model and the other web
# threads need (on 2 cores this doubled recall latency). Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from kronvex.celery import app as celery_app

__all__ = ["celery_app"]
