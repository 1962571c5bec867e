"""udfs/model_shipping.py without a cluster: a folder ships once per SparkContext, which is asked what
it ships already (listArchives), and again when its files change; local mode ships nothing. The real
context on a standalone cluster: test_cluster.py."""
import os
import shutil
import types
import zipfile

from sparklong.models.fingerprint import model_files
from sparklong.udfs.model_shipping import ship_to_executors


class ClusterContext:
    """The part of a SparkContext on a cluster that shipping uses; it takes no other attribute."""

    __slots__ = ("master", "added")

    def __init__(self, master: str = "spark://127.0.0.1:7077"):
        self.master, self.added = master, []

    @property
    def listArchives(self) -> list[str]:  # as Spark lists archives its file server serves
        return [f"spark://127.0.0.1:40000/files/{os.path.basename(path)}" for path in self.added]

    def addArchive(self, path: str) -> None:
        self.added.append(path)


def test_a_folder_ships_once_per_context_and_again_once_changed(tiny_folder, tmp_path):
    folder = str(tmp_path / "model")
    shutil.copytree(tiny_folder, folder)
    context = ClusterContext()
    spark = types.SimpleNamespace(sparkContext=context)
    name = ship_to_executors(spark, folder)
    assert ship_to_executors(spark, folder) == name and [os.path.basename(p) for p in context.added] == [name]
    with zipfile.ZipFile(context.added[0]) as archive:
        assert sorted(archive.namelist()) == model_files(folder, exports=True)
    os.makedirs(os.path.join(folder, "onnx"))
    with open(os.path.join(folder, "onnx", "embeddings.onnx"), "wb") as fh:
        fh.write(b"graph")
    changed = ship_to_executors(spark, folder)
    assert changed != name and [os.path.basename(p) for p in context.added] == [name, changed]
    again = ClusterContext()  # a new session ships again
    assert ship_to_executors(types.SimpleNamespace(sparkContext=again), folder) == changed and len(again.added) == 1


def test_local_mode_ships_nothing(tiny_folder):
    context = ClusterContext("local[2]")
    ship_to_executors(types.SimpleNamespace(sparkContext=context), tiny_folder)
    assert context.added == []
