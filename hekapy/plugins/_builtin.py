"""The built-in plugin types: type name -> "module:class".

Modules are imported only when a type is first looked up, so a program
that does not use the sandbox never imports lupa.
"""

from __future__ import annotations

_P = "hekapy.plugins"

BUILTIN: dict[str, str] = {
    "LogstreamerInput": f"{_P}.inputs.logstreamer:LogstreamerInput",
    "TcpInput": f"{_P}.inputs.network:TcpInput",
    "UdpInput": f"{_P}.inputs.network:UdpInput",
    "StdinInput": f"{_P}.inputs.simple:StdinInput",
    "FilePollingInput": f"{_P}.inputs.simple:FilePollingInput",
    "HekaFramingSplitter": f"{_P}.splitters:HekaFramingSplitter",
    "TokenSplitter": f"{_P}.splitters:TokenSplitter",
    "RegexSplitter": f"{_P}.splitters:RegexSplitter",
    "NullSplitter": f"{_P}.splitters:NullSplitter",
    "ProtobufDecoder": f"{_P}.decoders:ProtobufDecoder",
    "PayloadRegexDecoder": f"{_P}.decoders:PayloadRegexDecoder",
    "MultiDecoder": f"{_P}.decoders:MultiDecoder",
    "ScribbleDecoder": f"{_P}.decoders:ScribbleDecoder",
    "AccessLogDecoder": f"{_P}.decoders.accesslog:AccessLogDecoder",
    "SandboxDecoder": "hekapy.sandbox:SandboxDecoder",
    "SandboxFilter": "hekapy.sandbox:SandboxFilter",
    "SandboxEncoder": "hekapy.sandbox:SandboxEncoder",
    "CounterFilter": f"{_P}.filters.counter:CounterFilter",
    "ProtobufEncoder": f"{_P}.encoders:ProtobufEncoder",
    "PayloadEncoder": f"{_P}.encoders:PayloadEncoder",
    "RstEncoder": f"{_P}.encoders:RstEncoder",
    "LogOutput": f"{_P}.outputs.simple:LogOutput",
    "FileOutput": f"{_P}.outputs.file:FileOutput",
    "TcpOutput": f"{_P}.outputs.tcp:TcpOutput",
    "HttpOutput": f"{_P}.outputs.http:HttpOutput",
}
