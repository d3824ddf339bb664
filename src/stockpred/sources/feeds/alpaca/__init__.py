"""Alpaca market data v2: live minute bars over its websocket stream, gaps filled over REST.

The stream (``wss://stream.data.alpaca.markets/v2/iex``, or ``.../v2/sip`` on a paid plan)
speaks JSON text frames, each an array batching several objects told apart by ``T``:

* on connect the server sends ``[{"T":"success","msg":"connected"}]``;
* the client sends ``{"action":"auth","key":KEY_ID,"secret":SECRET_KEY}``; the server answers
  ``[{"T":"success","msg":"authenticated"}]`` or an error
  ``[{"T":"error","code":402,"msg":"auth failed"}]``; codes: 400 invalid syntax, 401 not
  authenticated, 402 auth failed, 404 auth timeout, 405 symbol limit exceeded, 406
  connection limit exceeded, 409 insufficient subscription, 410 invalid subscribe action, 500
  internal error;
* the client sends ``{"action":"subscribe","bars":[...],"trades":[...]}``; the server answers
  with the whole subscription, ``[{"T":"subscription","trades":[...],"quotes":[],"bars":[...]}]``;
* then data: a minute bar ``{"T":"b","S":"AAPL","o":..,"h":..,"l":..,"c":..,"v":..,
  "t":"2021-02-22T15:51:00Z","n":..,"vw":..}``, sent just after the minute ends, ``t`` being
  the minute's start (so that bar closes at 15:52:00Z); a trade ``{"T":"t","S":"AAPL",
  "i":96921,"x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}``
  (price ``p``, size ``s`` in shares). Other types (quotes, statuses, corrections) are ignored.

Liveness is websocket ping/pong: the feed pings and treats an unanswered ping as a dead
connection. Historical bars come from ``GET {rest}/v2/stocks/bars?symbols=AAPL,MSFT&
timeframe=1Min&start=RFC3339&end=RFC3339&limit=10000[&feed=iex][&page_token=...]`` with the
headers ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY``, answering
``{"bars":{"AAPL":[{"t":..,"o":..,"h":..,"l":..,"c":..,"v":..,"n":..,"vw":..}]},
"next_page_token":null}`` (a non-null token asks for the next page).
"""

from stockpred.sources.feeds.alpaca.feed import REST_URL, STREAM_URL, AlpacaFeed

__all__ = ["REST_URL", "STREAM_URL", "AlpacaFeed"]
