from anima.app import Runtime
from anima.core.messages import Incoming


async def test_a_message_gets_a_reply_and_both_turns_are_stored(runtime: Runtime) -> None:
    message = Incoming(platform="test", chat_id="c1", user_id="u1", display_name="Lin", text="hello there")
    reply = await runtime.pipeline.handle(message)
    assert reply is not None and reply.text == "You said: hello there"
    key = runtime.pipeline.key_for(message, runtime.characters.get("aiko"))
    view = await runtime.memory.view(key, "Lin")
    assert [m.content for m in view.recent] == ["hello there", "You said: hello there"]
