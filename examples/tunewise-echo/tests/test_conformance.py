"""tunewise's conformance suite, run against echo as a user's profile reaches it."""

from pydantic import SecretStr

import tunewise
from tunewise.testing import ProviderConformance

SECRET = "echo-conformance-7f3a9c"


class TestEchoConformance(ProviderConformance):
    model = "parrot"
    missing_model = "gpt-4o"  # must raise a one-line tunewise error
    embedding_model = "chars"
    secret = SECRET  # must appear in no repr and no error

    def make_provider(self) -> tunewise.Provider:
        # Through the registry and a profile, exactly as "echo:parrot" in a user's config would be.
        profile = tunewise.ProfileConfig(plugin="echo", api_key=SecretStr(SECRET), options={"latency": 0.01})
        return tunewise.Registry(tunewise.Settings(profiles={"echo": profile})).provider("echo")
