"""HF_TOKEN stays with the HF_ENDPOINT host: sent to it, kept on a redirect within it, dropped on a
redirect to another host (the hub sends weights to a CDN), never shown in an error. Two loopback hubs."""
import pytest

from fake_hub import FakeHub
from sparklong.models import pretrained
from sparklong.models.hub_http import origin

REPO = "allenai/longformer-base-4096"
NAME = "longformer_base_4096"
TOKEN = "hf_secret_token_123"


@pytest.fixture()
def hubs(tiny_folder, tmp_path, monkeypatch):
    """(the hub HF_ENDPOINT names, a second host serving the same files: the CDN)."""
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with FakeHub(tiny_folder, REPO) as hub, FakeHub(tiny_folder, REPO) as cdn:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub, cdn


def chain(exc):
    """The exception and every cause or context a traceback would print."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def test_the_token_goes_to_the_hub_but_not_to_the_host_it_redirects_to(hubs):
    hub, cdn = hubs
    weights = hub.resolve_path("model.safetensors")
    hub.redirects[weights] = cdn.url + weights
    pretrained.resolve(NAME)
    assert cdn.requests == [weights] and cdn.authorization[weights] is None
    assert hub.authorization[weights] == f"Bearer {TOKEN}"
    assert all(auth == f"Bearer {TOKEN}" for auth in hub.authorization.values())  # listing and every file


def test_a_redirect_within_the_hub_keeps_the_token(hubs):
    hub, cdn = hubs
    weights = hub.resolve_path("model.safetensors")
    hub.redirects[weights] = f"{hub.url}{weights}?moved=1"
    pretrained.resolve(NAME)
    assert hub.authorization[f"{weights}?moved=1"] == f"Bearer {TOKEN}" and not cdn.requests


def test_a_failing_download_never_shows_the_token(hubs, tmp_path):
    hub, _ = hubs
    hub.refused.add("config.json")  # answered 403 with the Authorization header echoed in its reason
    with pytest.raises(RuntimeError, match="403") as err:
        pretrained.resolve(NAME)
    assert all(TOKEN not in str(exc) for exc in chain(err.value))
    assert "<HF_TOKEN>" in str(err.value) and "loadSavedModel" in str(err.value)
    assert not (tmp_path / "cache" / f"{NAME}_en").exists()


def test_origins_compare_scheme_host_and_port():
    assert origin("https://HuggingFace.co/api") == origin("https://huggingface.co:443/x")
    assert origin("http://127.0.0.1:8080/a") != origin("http://127.0.0.1:8081/a")
    assert origin("https://huggingface.co") != origin("http://huggingface.co")
    assert origin("https://huggingface.co") != origin("https://cdn-lfs.huggingface.co")
