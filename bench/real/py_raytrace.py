"""py_raytrace — a small object-oriented ray tracer in pure Python.

Every vector operation returns a new Vec object, so rendering allocates and
frees millions of small, short-lived objects (and bound methods, tuples and
floats). The scene: a checkered floor and a few reflective spheres under
two lights, WIDTH x HEIGHT pixels, up to 3 reflections per ray.

usage: python3 py_raytrace.py [WIDTH=400] [HEIGHT=300]
prints: py_raytrace size=WxH checksum=<sha256 prefix of the 8-bit RGB image>
The image depends only on the arithmetic, never on addresses, so it is the
same under every allocator. Run with PYTHONMALLOC=malloc.
"""
import hashlib
import math
import sys


class Vec:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y, self.z + o.z)

    def __sub__(self, o):
        return Vec(self.x - o.x, self.y - o.y, self.z - o.z)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def mul(self, o):
        return Vec(self.x * o.x, self.y * o.y, self.z * o.z)

    def dot(self, o):
        return self.x * o.x + self.y * o.y + self.z * o.z

    def norm(self):
        n = math.sqrt(self.dot(self))
        return self * (1.0 / n) if n > 0 else self


class Ray:
    def __init__(self, origin, direction):
        self.origin = origin
        self.direction = direction


class Hit:
    def __init__(self, t, point, normal, obj):
        self.t = t
        self.point = point
        self.normal = normal
        self.obj = obj


class Sphere:
    def __init__(self, center, radius, color, reflect):
        self.center = center
        self.radius = radius
        self.color = color
        self.reflect = reflect

    def intersect(self, ray):
        oc = ray.origin - self.center
        b = oc.dot(ray.direction)
        c = oc.dot(oc) - self.radius * self.radius
        disc = b * b - c
        if disc < 0:
            return None
        s = math.sqrt(disc)
        t = -b - s
        if t < 1e-4:
            t = -b + s
            if t < 1e-4:
                return None
        p = ray.origin + ray.direction * t
        return Hit(t, p, (p - self.center).norm(), self)

    def color_at(self, p):
        return self.color


class Plane:
    def __init__(self, y, reflect):
        self.y = y
        self.reflect = reflect
        self.normal = Vec(0.0, 1.0, 0.0)

    def intersect(self, ray):
        dy = ray.direction.y
        if abs(dy) < 1e-9:
            return None
        t = (self.y - ray.origin.y) / dy
        if t < 1e-4:
            return None
        return Hit(t, ray.origin + ray.direction * t, self.normal, self)

    def color_at(self, p):
        if (math.floor(p.x) + math.floor(p.z)) % 2 == 0:
            return Vec(0.9, 0.9, 0.9)
        return Vec(0.15, 0.15, 0.2)


class Scene:
    def __init__(self):
        self.objects = [
            Plane(-1.0, 0.25),
            Sphere(Vec(0.0, 0.0, 5.0), 1.0, Vec(0.9, 0.2, 0.2), 0.35),
            Sphere(Vec(-2.2, -0.3, 6.5), 0.7, Vec(0.2, 0.8, 0.3), 0.2),
            Sphere(Vec(2.0, -0.2, 4.2), 0.8, Vec(0.25, 0.35, 0.95), 0.5),
            Sphere(Vec(0.7, -0.7, 3.2), 0.3, Vec(0.95, 0.85, 0.2), 0.1),
            Sphere(Vec(-0.9, 1.6, 7.5), 0.9, Vec(0.8, 0.8, 0.8), 0.7),
        ]
        self.lights = [(Vec(-5.0, 6.0, -2.0), 0.8), (Vec(4.0, 3.0, 1.0), 0.5)]
        self.ambient = 0.1

    def closest(self, ray):
        best = None
        for o in self.objects:
            h = o.intersect(ray)
            if h is not None and (best is None or h.t < best.t):
                best = h
        return best

    def trace(self, ray, depth):
        hit = self.closest(ray)
        if hit is None:
            t = 0.5 * (ray.direction.y + 1.0)
            return Vec(0.6, 0.75, 1.0) * t + Vec(1.0, 1.0, 1.0) * (1.0 - t)
        base = hit.obj.color_at(hit.point)
        col = base * self.ambient
        for pos, power in self.lights:
            to_light = pos - hit.point
            dist = math.sqrt(to_light.dot(to_light))
            ldir = to_light * (1.0 / dist)
            shadow = self.closest(Ray(hit.point + hit.normal * 1e-3, ldir))
            if shadow is not None and shadow.t < dist:
                continue
            diff = max(0.0, hit.normal.dot(ldir))
            half = (ldir - ray.direction).norm()
            spec = max(0.0, hit.normal.dot(half)) ** 32
            col = col + base * (diff * power) + Vec(1.0, 1.0, 1.0) * (spec * power * 0.5)
        if depth < 3 and hit.obj.reflect > 0:
            d = ray.direction
            r = d - hit.normal * (2.0 * d.dot(hit.normal))
            refl = self.trace(Ray(hit.point + hit.normal * 1e-3, r.norm()), depth + 1)
            col = col * (1.0 - hit.obj.reflect) + refl * hit.obj.reflect
        return col


def render(width, height):
    scene = Scene()
    eye = Vec(0.0, 0.3, -1.0)
    aspect = width / height
    rows = []
    for j in range(height):
        row = []
        for i in range(width):
            x = (2.0 * (i + 0.5) / width - 1.0) * aspect
            y = 1.0 - 2.0 * (j + 0.5) / height
            d = Vec(x, y, 1.5).norm()
            c = scene.trace(Ray(eye, d), 0)
            row.append(tuple(min(255, max(0, int(v * 255.0 + 0.5))) for v in (c.x, c.y, c.z)))
        rows.append(row)
    return rows


def main():
    width = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    height = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rows = render(width, height)
    h = hashlib.sha256()
    for row in rows:
        h.update(bytes(v for px in row for v in px))
    print("py_raytrace size=%dx%d checksum=%s" % (width, height, h.hexdigest()[:16]))


if __name__ == "__main__":
    main()
