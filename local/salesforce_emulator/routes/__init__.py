"""The emulator's API areas, one module each: a class holding the emulator (the shared state) whose
methods are the views, and ``routes()`` declaring each view's method, URL rule and call kind."""
