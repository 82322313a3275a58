"""Framework adapters: build a :class:`~rampart.inprocess.context.RequestContext` per request, bind it
while the app handles the request, judge the response (XSS) and turn a block into a 403."""
