"""How the command lines and the demo word a failure for a user: one line."""


def one_line(error: BaseException) -> str:
  """An exception as one line: its message, or its type if it has none.

  Errors of the user's making (ValueError, FileNotFoundError) read as their
  message alone; anything else keeps its type, so that a bug still looks
  like one.
  """
  text = str(error).strip().splitlines()
  if isinstance(error, (ValueError, FileNotFoundError)) and text:
    return text[0]
  return f"{type(error).__name__}: {text[0]}" if text else type(
      error).__name__
