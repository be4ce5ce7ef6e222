"""The main window: assembles the panels, the menus, file routing and window state. Nothing more."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QTabWidget, QWidget

from fieldcast.app.about import AboutDialog
from fieldcast.app.data.panel import DataPanel
from fieldcast.app.panel import Panel
from fieldcast.app.paths import AppPaths
from fieldcast.app.play.panel import PlayPanel
from fieldcast.app.responsiveness import keep_window_responsive
from fieldcast.app.runs.panel import RunsPanel
from fieldcast.app.settings import Settings
from fieldcast.app.train.panel import TrainPanel

__all__ = ["MainWindow"]

log = logging.getLogger("fieldcast.app")


class _FirstPaintFilter(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            self.window.sig_first_paint.emit()
        return False


class MainWindow(QMainWindow):
    """Data, Train, Runs and Play panels in tabs; files dropped or opened go to the panel that takes them."""

    sig_first_paint = Signal()
    """The window painted for the first time (start-up is over)."""

    def __init__(self, paths: AppPaths, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        keep_window_responsive()  # before any panel opens a model or starts a training
        self.setObjectName("main_window")
        self.setWindowTitle("Fieldcast")
        self.setAcceptDrops(True)
        self.paths = paths
        self.settings = settings
        self.about_dialog: AboutDialog | None = None

        self.panels: dict[str, Panel] = {}
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        data = DataPanel(data_dir=paths.data)
        train = TrainPanel(paths.runs, paths.data)
        runs = RunsPanel(paths.runs)
        play = PlayPanel(paths.runs)
        for panel in (data, train, runs, play):
            self._add_panel(panel)
        # Panels talk through the window, never to each other's insides.
        data.sig_train_requested.connect(self._on_train_requested)
        train.sig_run_started.connect(lambda run: runs.refresh())
        runs.sig_open_paths.connect(lambda paths_: self.open_paths([Path(p) for p in paths_]))
        runs.sig_resume_requested.connect(self._on_resume_requested)

        self._build_menus()
        self._restore_state()
        self.statusBar().showMessage("Ready. Drop a dataset or a model on the window to open it.")
        self.installEventFilter(_FirstPaintFilter(self))

    # Assembly -----------------------------------------------------------------------------------------
    def _add_panel(self, panel: Panel) -> None:
        self.panels[panel.name] = panel
        self.tabs.addTab(panel, panel.title)
        panel.sig_status.connect(self._on_panel_status)
        panel.sig_file_opened.connect(self._on_file_opened)
        panel.sig_show_me.connect(lambda p=panel: self.show_panel(p.name))

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.action_open_dataset = QAction("Open &dataset…", self, shortcut=QKeySequence.StandardKey.Open)
        self.action_open_dataset.triggered.connect(lambda: self._on_open_requested("data"))
        self.action_open_model = QAction("Open &model…", self)
        self.action_open_model.triggered.connect(lambda: self._on_open_requested("play"))
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.setObjectName("recent_menu")
        self.action_quit = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        self.action_quit.triggered.connect(self.close)
        file_menu.addAction(self.action_open_dataset)
        file_menu.addAction(self.action_open_model)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.action_quit)
        self._rebuild_recent_menu()

        view_menu = self.menuBar().addMenu("&View")
        for i, panel in enumerate(self.panels.values()):
            action = QAction(panel.title, self, shortcut=QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda checked=False, n=panel.name: self.show_panel(n))
            view_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        self.action_about = QAction("&About Fieldcast", self)
        self.action_about.triggered.connect(self.show_about)
        self.action_open_log = QAction(f"Log file: {self.paths.log_file}", self)
        self.action_open_log.setEnabled(False)
        help_menu.addAction(self.action_about)
        help_menu.addAction(self.action_open_log)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_paths([Path(p)]))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._on_clear_recent)
        self.recent_menu.setEnabled(bool(files))

    # Routing ------------------------------------------------------------------------------------------
    def panel_for(self, path: Path) -> Panel | None:
        """The panel that opens ``path``, if any."""
        for panel in self.panels.values():
            if panel.accepts(path):
                return panel
        return None

    def open_paths(self, paths: list[Path]) -> list[Path]:
        """Route each path to its panel; returns the paths no panel could take (each reported)."""
        refused = []
        for path in paths:
            panel = self.panel_for(path)
            if panel is None:
                refused.append(path)
                continue
            log.info("opening %s in the %s panel", path, panel.name)
            panel.open_path(path)
        if refused:
            names = ", ".join(p.name for p in refused)
            self.statusBar().showMessage(f"Fieldcast does not open these files: {names}", 10_000)
            log.warning("no panel opens %s", names)
        return refused

    def show_panel(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.panels[name])

    def current_panel(self) -> Panel:
        return self.tabs.currentWidget()

    # Drag and drop ------------------------------------------------------------------------------------
    @staticmethod
    def _dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if any(self.panel_for(p) for p in self._dropped_paths(event)):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = self._dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            # Opened once the drop has returned: an opening may wait for a worker (a model, a dataset's
            # first look) in a local event loop, and the program the files came from waits for the drop.
            QTimer.singleShot(0, self, lambda: self.open_paths(paths))

    # Slots --------------------------------------------------------------------------------------------
    def _on_open_requested(self, panel_name: str) -> None:
        panel = self.panels[panel_name]
        start = self.settings.last_folder(panel_name) or str(Path.home())
        files, _ = QFileDialog.getOpenFileNames(self, f"Open — {panel.title}", start, panel.file_filter)
        if files:
            self.settings.set_last_folder(panel_name, Path(files[0]).parent)
            self.open_paths([Path(f) for f in files])

    def _on_train_requested(self, dataset: str) -> None:
        self.panels["train"].set_dataset(Path(dataset))
        self.show_panel("train")

    def _on_resume_requested(self, run_dir: str) -> None:
        self.panels["train"].resume_run(Path(run_dir))
        self.show_panel("train")

    def _on_file_opened(self, path: str) -> None:
        self.settings.add_recent_file(path)
        self._rebuild_recent_menu()

    def _on_clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._rebuild_recent_menu()

    def _on_panel_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)

    def show_about(self) -> AboutDialog:
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self)
            self.about_dialog.start_device_detection()
        self.about_dialog.show()
        self.about_dialog.raise_()
        return self.about_dialog

    # Window state -------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        # A first start opens on Play, where the shipped model is already running.
        saved = self.settings.current_panel()
        self.show_panel(saved if saved in self.panels else "play")

    def save_state(self) -> None:
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.set_current_panel(self.current_panel().name)
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        for panel in self.panels.values():
            panel.shutdown()
        self.save_state()
        super().closeEvent(event)
