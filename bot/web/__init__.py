"""The web side: the aiohttp app, the WeChat webhook, the inbox that stores
each message once, and the server that runs them."""
