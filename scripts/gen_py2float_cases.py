import random, struct, json
random.seed(1)
vals=[]
for i in range(1000):
    k=random.random()
    if k<0.3: x=random.uniform(-1000,1000)
    elif k<0.6: x=10**random.uniform(-10,25)*random.choice([-1,1])
    elif k<0.8: x=float(random.randint(-10**14,10**14))
    else: x=struct.unpack('f',struct.pack('f',random.uniform(-300,300)))[0]
    vals.append(x)
vals += [1e-05, 254.0, 15.875, 0.031005859375, 131071.9921875, 12345678901.25, 1e11, 1e12, 1e16, 0.0001, 0.00001234, 123456789012.0, 999999999999.5, 9999999999995.0, 5e-324, 1.7976931348623157e308, 0.5, 2.5]
out=[]
for x in vals:
    s = '%.12g' % x
    if all(c in '-0123456789' for c in s): s += '.0'
    out.append([repr(x), s])
json.dump(out, open('/work/main/test/fixtures/quant/py2float_cases.json','w'))
