"""Built-in inputs.

An input's :meth:`run` gets a *host* from the daemon (or an embedding
program) and returns when its source ends or :meth:`stop` is called.
The host provides:

``host.stream(label)``
    a new stream for one source (a file, a connection): ``feed(data)``
    splits and decodes the bytes and routes the messages,
    ``close()`` delivers what the splitter still holds when configured,
    and ``pending`` is the number of bytes held back (not yet part of a
    complete record);
``host.run_once``
    True when inputs should read their sources to the end and return
    instead of waiting for more.
"""
