"""Built-in outputs: LogOutput, FileOutput, TcpOutput, HttpOutput."""
