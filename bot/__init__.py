"""Lianxin: the WeChat webhook, ticket domain and delivery of a community request bot."""
