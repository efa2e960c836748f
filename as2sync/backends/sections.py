"""What every backend's ``gateway`` section is made of: the section rules and the login keys
the REST backends share.

A leaf module (pydantic only): the configuration model imports the backends' settings, which
import this, so it must import nothing that imports the configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

PositiveSeconds = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    # As every section of the configuration: unknown keys are errors (a typo must not fall
    # back to a default), and a loaded configuration never changes.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PasswordLogin(Section):
    """The keys of a REST API that logs in with an account's e-mail address and password.

    ``api`` and ``url`` are declared first so that every backend's section lists them first;
    each backend narrows them (its ``api`` literal, its default URL).
    """

    api: str
    url: str
    username: str = Field(..., min_length=1, description="Account e-mail address.")
    password: SecretStr | None = Field(
        None, description="Password; ${VAR} takes it from the environment."
    )
    password_file: Path | None = Field(
        None, description="File holding the password (first line), instead of password."
    )
