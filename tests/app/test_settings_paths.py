from fieldcast.app.paths import app_paths
from fieldcast.app.settings import MAX_RECENT, Settings


def test_fieldcast_home_moves_every_folder(fieldcast_home):
    paths = app_paths()
    for folder in (paths.data, paths.runs, paths.models, paths.logs, paths.config):
        assert folder.is_dir()
        assert fieldcast_home in folder.parents


def test_recent_files_are_most_recent_first_unique_and_bounded(tmp_path, qapp):
    settings = Settings(tmp_path / "s.ini")
    files = []
    for i in range(MAX_RECENT + 3):
        f = tmp_path / f"f{i}.h5"
        f.touch()
        files.append(str(f.resolve()))
        settings.add_recent_file(f)
    settings.add_recent_file(files[-2])
    recent = settings.recent_files()
    assert len(recent) == MAX_RECENT
    assert recent[0] == files[-2]
    assert recent[1] == files[-1]
    assert len(set(recent)) == len(recent)
    settings.sync()
    assert Settings(tmp_path / "s.ini").recent_files() == recent


def test_a_single_recent_file_round_trips(tmp_path, qapp):
    settings = Settings(tmp_path / "s.ini")
    settings.add_recent_file(tmp_path / "only.h5")
    settings.sync()
    assert Settings(tmp_path / "s.ini").recent_files() == [str((tmp_path / "only.h5").resolve())]
