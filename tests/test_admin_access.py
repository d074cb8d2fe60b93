"""Admin access is checked once on the admin router: nothing admin-only reaches anyone else."""

from handlers.admin.menu import AdminCb, AdminSection
from tests.conftest import ADMIN_ID
from tests.telegram import Person, Telegram, buttons, texts


async def test_admin_gets_the_menu(tg: Telegram) -> None:
    calls = await tg.send(Person(id=ADMIN_ID), "/admin")
    assert texts(calls) == ["🛠 Admin panel"]
    assert "📦 Orders" in buttons(calls)


async def test_non_admin_gets_no_admin_content(tg: Telegram) -> None:
    mallory = Person(id=666)
    calls = await tg.send(mallory, "/admin")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]
    for section in AdminSection:
        calls = await tg.press(mallory, AdminCb(section=section))
        assert "This button is out of date. Here is the current view." in texts(calls)
        assert not any("Admin" in t for t in texts(calls))
