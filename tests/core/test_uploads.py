"""Evidence and service photos are images, verified, re-encoded and private (issue 9, item 11).

Before: the task page accepted an .html as "evidence" (it only looked at the first bytes, and the
care page looked at nothing), stored it as sent under the client's name in the default storage,
kept the phone's GPS position in the EXIF, and linked it with `.url`, a relative URL that 404'd.

Now a grid member uploading from the task page gets a 400 with a message for anything that is not
a whole JPEG, PNG or WebP photo within the limits, and nothing is stored; an accepted photo is
stored re-encoded (no EXIF, nothing appended) under a random name in the private storage, which
no URL serves; it is read only through the task's photo view, by whoever may see the task.
"""

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

from epigrid.care import services as care
from epigrid.care.models import ServiceTask
from epigrid.control import services as control
from epigrid.core.errors import DomainError
from epigrid.core.models import AuditEvent
from epigrid.core.uploads import verified_photo
from epigrid.response.models import Task
from tests.response.test_response import confirm

GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112


def image_bytes(fmt: str, size=(64, 48), *, mode="RGB", exif: Image.Exif | None = None, **options) -> bytes:
    out = io.BytesIO()
    image = Image.new(mode, size, (200, 40, 40) if mode == "RGB" else 0)
    if exif is not None:
        options["exif"] = exif.tobytes()
    image.save(out, fmt, **options)
    return out.getvalue()


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (36.0, 40.0, 12.5), 3: "E", 4: (117.0, 1.0, 3.0)}  # 济南
    return exif


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


# ---------------------------------------------------------------- what is refused

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", HTML)
    return out.getvalue()


def bomb_png(side: int) -> bytes:
    """A PNG of side x side one-bit pixels: a few KB that decode to side² pixels."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


REFUSED = {
    # name sent, bytes, the refusal's code
    "page.html": ("page.html", lambda: HTML, "photo_type"),
    "drawing.svg": ("drawing.svg", lambda: SVG, "photo_type"),
    "html renamed .jpg": ("photo.jpg", lambda: HTML, "photo_type"),
    "a zip": ("photos.zip", zip_bytes, "photo_type"),
    "a GIF": ("anim.gif", lambda: image_bytes("GIF"), "photo_type"),
    "a BMP": ("photo.jpg", lambda: image_bytes("BMP"), "photo_type"),
    "empty": ("photo.jpg", lambda: b"", "photo_type"),
    "truncated JPEG": ("photo.jpg", lambda: image_bytes("JPEG", (640, 480), quality=95)[:2000], "photo_damaged"),
    "truncated PNG": ("photo.png", lambda: image_bytes("PNG", (640, 480), mode="L")[:60], "photo_damaged"),
    "JPEG + HTML polyglot": ("photo.jpg", lambda: image_bytes("JPEG") + HTML, "photo_payload"),
    "HTML in a JPEG comment": ("photo.jpg", lambda: image_bytes("JPEG", comment=HTML), "photo_payload"),
    "JPEG + ZIP polyglot": ("photo.jpg", lambda: image_bytes("JPEG") + zip_bytes(), "photo_payload"),
    # 400 M pixels: past Pillow's own bomb limit (it refuses before decoding)
    "20000x20000 PNG bomb": ("photo.png", lambda: bomb_png(20_000), "photo_too_large"),
    # 64 M pixels: under Pillow's limit, over ours (checked from the header, before decoding)
    "8000x8000 PNG": ("photo.png", lambda: bomb_png(8_000), "photo_too_large"),
}


@pytest.fixture
def private_root(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture
def photo_task(world):
    """The plan's "张贴告知书" step (evidence: a photo) on member1's compound, open."""
    case = confirm(world, world.persons["p1"], specimen="U-1", at=timezone.now() - dt.timedelta(hours=2))
    task = case.activations.get().tasks.get(title="张贴告知书")
    assert task.step.evidence == "photo" and task.status == "open"
    return task


def as_user(world, username: str) -> Client:
    client = Client()
    client.force_login(world.users[username])
    return client


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_the_task_page_refuses_what_is_not_a_photo(world, photo_task, private_root, case):
    name, content, code = REFUSED[case]
    events = AuditEvent.objects.count()
    response = as_user(world, "member1").post(
        f"/response/tasks/{photo_task.pk}/done/", {"photo": upload(name, content())}
    )
    assert response.status_code == 400
    page = response.content.decode()
    message = {
        "photo_type": "请上传照片：JPEG、PNG 或 WebP 格式的图片。",
        "photo_damaged": "照片已损坏或不完整：请重新拍摄。",
        "photo_payload": "该文件不只是一张照片",
        "photo_too_large": "照片过大：最多 10 MB、50 百万像素。",
    }[code]
    if case == "empty":
        message = "请检查表单。"  # Django's form refuses an empty file first
    assert message in page  # the reader's language (Chinese by default)
    photo_task.refresh_from_db()
    assert photo_task.status == "open" and not photo_task.evidence_photo
    assert stored_files(private_root) == []  # nothing stored, anywhere under the private root
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_the_refusal_is_a_domain_error_in_both_languages(case):
    name, content, code = REFUSED[case]
    with pytest.raises(DomainError) as refused:
        verified_photo(upload(name, content()))
    answer = refused.value.as_dict()
    assert refused.value.status == 400 and answer["code"] == code and answer["field"] == "photo"
    assert answer["messages"]["en"] != answer["messages"]["zh-hans"]  # translated, not fallen back


def test_too_many_bytes_is_refused_before_decoding(settings):
    settings.UPLOAD_IMAGE_MAX_BYTES = 1024 * 1024
    big = image_bytes("PNG") + b"\0" * settings.UPLOAD_IMAGE_MAX_BYTES  # one byte too many, at least
    with pytest.raises(DomainError) as refused:
        verified_photo(upload("big.png", big))
    assert refused.value.code == "photo_too_large"
    assert "at most 1 MB" in refused.value.render("en")


def test_the_care_page_refuses_an_html_too(world, private_root):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    care.service_tasks_materialize()
    task = ServiceTask.objects.filter(household=world.households["h1"]).order_by("due_at").first()
    response = as_user(world, "member1").post(
        f"/care/tasks/{task.pk}/done/", {"note": "已送菜", "photo": upload("receipt.jpg", HTML)}
    )
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.done_at is None and not task.photo and stored_files(private_root) == []


# ---------------------------------------------------------------- what is accepted, and how it is kept


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
def test_a_photo_is_stored_re_encoded_without_its_gps_under_a_random_name(
    world, photo_task, private_root, fmt, extension, content_type
):
    original = image_bytes(fmt, exif=gps_exif())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the phone's position is in it
    client = as_user(world, "member1")
    response = client.post(
        f"/response/tasks/{photo_task.pk}/done/", {"photo": upload("../../static/张三家门口.html", original)}
    )
    assert response.status_code == 302
    photo_task.refresh_from_db()
    assert photo_task.status == "done"
    name = Path(photo_task.evidence_photo.name)
    assert name.parent.parts[0] == "evidence" and name.suffix == f".{extension}"
    assert len(name.stem) == 32 and "张三" not in str(name) and ".html" not in str(name)
    (stored,) = stored_files(private_root)
    assert stored == Path(private_root) / name  # in the private root, nowhere else
    data = stored.read_bytes()
    assert data != original and b"PhoneMaker" not in data
    kept = Image.open(io.BytesIO(data))
    assert kept.format == fmt and kept.size == (64, 48)
    assert not kept.getexif() and not kept.getexif().get_ifd(GPS_IFD)
    assert "exif" not in kept.info

    # The task page links to the photo view, and the link serves the photo (it 404'd before).
    page = client.get(f"/response/{photo_task.activation_id}/").content.decode()
    assert f'href="/response/tasks/{photo_task.pk}/photo/"' in page
    served = client.get(f"/response/tasks/{photo_task.pk}/photo/")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == data
    assert served["Content-Type"] == content_type
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in served["Cache-Control"] and "private" in served["Cache-Control"]
    assert served["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert served["Content-Disposition"] == f'inline; filename="evidence-{photo_task.pk}.{extension}"'


def test_the_phones_orientation_is_applied_before_the_exif_goes():
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # taken with the phone upright: the sensor's 64x48 is shown as 48x64
    kept = Image.open(verified_photo(upload("p.jpg", image_bytes("JPEG", exif=exif))))
    assert kept.size == (48, 64) and not kept.getexif()


def test_a_phones_multi_picture_jpeg_is_a_jpeg(private_root):
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (16, 12))])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    stored = verified_photo(upload("portrait.jpg", out.getvalue()))
    assert stored.name.endswith(".jpg") and Image.open(stored).format == "JPEG"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])  # a JPEG is decoded at a reduced scale first
def test_a_large_photo_is_scaled_down(settings, fmt):
    settings.UPLOAD_IMAGE_MAX_SIDE = 100
    kept = Image.open(verified_photo(upload("p", image_bytes(fmt, (400, 200)))))
    assert kept.size == (100, 50) and kept.format == fmt


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=4096), st.data()))
def test_any_bytes_give_a_clean_image_or_a_refusal_never_a_crash(data):
    """Random bytes, and real images with bytes flipped, cut or inserted: the answer is a clean
    image of an allowed format or a DomainError (400), never another exception (a 500)."""
    if not isinstance(data, bytes):
        base = data.draw(st.sampled_from([SEED_JPEG, SEED_PNG, SEED_WEBP]))
        at = data.draw(st.integers(0, len(base) - 1))
        patch = data.draw(st.binary(min_size=1, max_size=16))
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        data = {
            "flip": base[:at] + patch + base[at + len(patch) :],
            "cut": base[:at],
            "insert": base[:at] + patch + base[at:],
        }[how]
    try:
        stored = verified_photo(upload("x.jpg", data))
    except DomainError as refused:
        assert refused.status == 400
        return
    kept = Image.open(io.BytesIO(stored.read()))
    assert kept.format in ("JPEG", "PNG", "WEBP") and not kept.getexif()


SEED_JPEG = image_bytes("JPEG", (24, 16), exif=gps_exif())
SEED_PNG = image_bytes("PNG", (24, 16))
SEED_WEBP = image_bytes("WEBP", (24, 16))


# ---------------------------------------------------------------- who can read it


@pytest.fixture
def done_with_photo(world, photo_task, private_root):
    from epigrid.response import services as response

    return response.task_complete(
        task=photo_task, photo=upload("p.jpg", image_bytes("JPEG")), principal=world.users["member1"]
    )


@pytest.mark.parametrize(
    ("username", "status"),
    [("member1", 200), ("head1", 200), ("inspector", 200), ("member2", 404), ("head2", 404), ("norole", 404)],
)
def test_only_who_sees_the_task_reads_its_photo(world, done_with_photo, username, status):
    from epigrid.core.models import AccessEvent

    response = as_user(world, username).get(f"/response/tasks/{done_with_photo.pk}/photo/")
    assert response.status_code == status
    reads = AccessEvent.objects.filter(action="photo.read", object_id=str(done_with_photo.pk))
    if status == 404:
        assert b"\xff\xd8" not in response.content  # not a byte of the photo
        assert not reads.exists()
    else:  # who looked at it is in the access log
        assert list(reads.values_list("actor_label", flat=True)) == [world.users[username].username]


def test_anonymous_is_sent_to_log_in(done_with_photo):
    response = Client().get(f"/response/tasks/{done_with_photo.pk}/photo/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_task_without_a_photo_and_an_unknown_task_are_404(world, photo_task):
    client = as_user(world, "member1")
    assert client.get(f"/response/tasks/{photo_task.pk}/photo/").status_code == 404
    assert client.get("/response/tasks/999999/photo/").status_code == 404


def test_the_photo_is_under_no_public_url(world, done_with_photo, private_root):
    name = done_with_photo.evidence_photo.name
    assert not Path(private_root).resolve().is_relative_to(Path(django_settings.STATIC_ROOT).resolve())
    client = as_user(world, "member1")
    for url in (f"/static/{name}", f"/media/{name}", f"/{name}", f"/private/{name}"):
        assert client.get(url).status_code == 404, url
    with pytest.raises(ValueError, match="no URL"):
        done_with_photo.evidence_photo.url  # noqa: B018 — the storage refuses to make one


def test_an_old_upload_is_never_served_as_what_it_claims(world, photo_task, private_root):
    """A file stored before this change (the .html the probe uploaded) is not served, whatever
    its name: only the extensions verified_photo writes are."""
    path = Path(private_root) / "evidence" / "2026" / "11"
    path.mkdir(parents=True)
    (path / "probe.html").write_bytes(HTML)
    Task.objects.filter(pk=photo_task.pk).update(evidence_photo="evidence/2026/11/probe.html")
    assert as_user(world, "member1").get(f"/response/tasks/{photo_task.pk}/photo/").status_code == 404


def test_a_service_photo_is_verified_stored_and_read_in_scope(world, private_root):
    control.control_order_start(
        person=world.persons["p1"], kind="home_quarantine", reason="other", principal=world.admin
    )
    control.team_member_add(
        household=world.households["h1"], user=world.users["member1"], role="liaison", principal=world.admin
    )
    care.service_tasks_materialize()
    task = ServiceTask.objects.filter(household=world.households["h1"], owner=world.users["member1"]).first()
    # Due now, whatever the time of day: on member1's day page, with its form.
    ServiceTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - dt.timedelta(minutes=5))
    client = as_user(world, "member1")
    assert 'name="photo"' in client.get("/health/today/").content.decode()  # the form takes a photo
    response = client.post(
        f"/care/tasks/{task.pk}/done/",
        {"note": "已送菜", "photo": upload("门口.png", image_bytes("PNG", exif=gps_exif()))},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.photo.name.startswith("services/") and task.photo.name.endswith(".png")
    household = client.get(f"/people/households/{world.households['h1'].pk}/").content.decode()
    assert f'href="/care/tasks/{task.pk}/photo/"' in household
    served = client.get(f"/care/tasks/{task.pk}/photo/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff" and "no-store" in served["Cache-Control"]
    kept = Image.open(io.BytesIO(b"".join(served.streaming_content)))
    assert not kept.getexif().get_ifd(GPS_IFD)
    assert as_user(world, "member2").get(f"/care/tasks/{task.pk}/photo/").status_code == 404
