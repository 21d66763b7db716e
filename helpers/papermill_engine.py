"""papermill's engine for the workshop's headless runs: the executed copy saved every few seconds.

papermill writes the whole executed notebook to disk when each cell starts and again
when it ends. Each write serialises, deep-copies and validates the notebook (figures
included): 15-40 ms for the larger notebooks here, twice per cell, a few seconds per
notebook in which nothing runs. :class:`WorkshopEngine` is papermill's own nbclient
engine with one difference: a save that comes less than :data:`SAVE_EVERY_S` after
the last one is skipped. The copy is still written at the end of the run, failed or
not, with every output (and, on a failure, with papermill's error cell).

A kernel it starts itself (when it is not given one) talks over Unix sockets
(:class:`helpers.kernels.IpcKernelManager`), not TCP ports that another process may
take before the kernel binds them.

``run_notebook`` uses it through ``papermill.execute_notebook(engine_name=ENGINE_NAME)``.
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE_NAME = "workshop"
#: Seconds between two saves of the executed copy while a notebook runs.
SAVE_EVERY_S = 5.0


class SparingSaves(NotebookExecutionManager):
    """papermill's execution state, saved at most every :data:`SAVE_EVERY_S` until the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.finishing = False

    def save(self, **kwargs: Any) -> None:
        """Save now if the run is ending or the last save is :data:`SAVE_EVERY_S` old."""
        if "nb" in kwargs and kwargs["nb"] is not None:
            self.nb = kwargs["nb"]
        age = (self.now() - self.last_save_time).total_seconds()
        if self.finishing or age >= SAVE_EVERY_S:
            super().save()

    def notebook_complete(self, **kwargs: Any) -> None:
        """Finish the run's metadata and save the copy (always)."""
        self.finishing = True
        super().notebook_complete(**kwargs)


class WorkshopEngine(NBClientEngine):
    """papermill's nbclient engine, with :class:`SparingSaves` as its execution state."""

    @classmethod
    def execute_notebook(cls, nb: Any, kernel_name: str, output_path: str | None = None,
                         progress_bar: bool = True, log_output: bool = False,
                         autosave_cell_every: int = 30, **kwargs: Any) -> Any:
        """Execute ``nb`` as :meth:`papermill.engines.Engine.execute_notebook` does."""
        from helpers.kernels import IpcKernelManager

        kwargs.setdefault("kernel_manager_class", IpcKernelManager)
        manager = SparingSaves(nb, output_path=output_path, progress_bar=progress_bar,
                               log_output=log_output, autosave_cell_every=autosave_cell_every)
        manager.notebook_start()
        try:
            cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
        finally:
            manager.cleanup_pbar()
            manager.notebook_complete()
        return manager.nb


papermill_engines.register(ENGINE_NAME, WorkshopEngine)
