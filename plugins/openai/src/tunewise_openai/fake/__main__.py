"""``python -m tunewise_openai.fake``: serve the fake OpenAI API in its own process."""

from tunewise_openai.fake._server import main

main()
